using System;
using System.IO;

namespace ColoPS.Colo
{
    /// <summary>
    /// The TLS half of ColoConfigValidator. Half a TLS setup is worse than none: the first link to
    /// meet the missing piece fails in the middle of a start or a failover, so everything is checked
    /// before any QEMU runs.
    /// </summary>
    internal static class ColoTlsValidator
    {
        /// <param name="files">Only these sites' folders are looked into; the others are on their own hosts.</param>
        public static void Validate(ColoConfig config, ColoTlsConfig tls, ColoHostFiles files, Action<string, string, string> add, Action<string, string> checkPath)
        {
            foreach (var site in new[] { ColoSite.A, ColoSite.B })
            {
                string field = "Tls.Site" + site;
                var s = tls.GetSite(site);
                if (s == null)
                {
                    add("ColoConfigTlsIncomplete", field, $"TLS is on but site {site} has no certificates; both sites need a CertificateDirectory and a ClientIdentity (New-ColoCertificate makes both).");
                    continue;
                }
                if (string.IsNullOrEmpty(s.CertificateDirectory) || !Path.IsPathRooted(s.CertificateDirectory))
                {
                    add("ColoConfigTlsIncomplete", field + ".CertificateDirectory", $"'{s.CertificateDirectory}' is not an absolute folder path.");
                }
                else
                {
                    checkPath(s.CertificateDirectory, field + ".CertificateDirectory");
                    if (files.ChecksFolderOf(site))
                    {
                        CheckFiles(s, field, add);
                        ColoTlsCertificateCheck.Check(config, site, s, field, add);
                    }
                }
                CheckIdentity(s.ClientIdentity, field + ".ClientIdentity", add);
            }
        }

        private static void CheckFiles(ColoTlsSiteConfig s, string field, Action<string, string, string> add)
        {
            foreach (var file in ColoTlsConfig.RequiredFiles)
            {
                var path = s.PathOf(file);
                if (!File.Exists(path))
                {
                    add("ColoConfigTlsFileMissing", field + ".CertificateDirectory", $"{path} is missing; QEMU needs {string.Join(", ", ColoTlsConfig.RequiredFiles)} in each site's folder.");
                    continue;
                }
                if (!OperatingSystem.IsWindows() && file.EndsWith("-key.pem", StringComparison.Ordinal)
                    && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                {
                    add("ColoConfigTlsKeyExposed", field + ".CertificateDirectory", $"{path} can be read or written by other users; make it 0600 (chmod 600) so only its owner holds the key.");
                }
            }
        }

        internal static void CheckIdentity(string identity, string field, Action<string, string, string> add)
        {
            // The DN goes into a -object option (commas are doubled there) and QMP strings; quotes and
            // control characters have no business in a certificate DN ColoPS compares.
            if (string.IsNullOrEmpty(identity) || identity.IndexOf('=') <= 0)
            {
                add("ColoConfigTlsInvalidIdentity", field, $"'{identity}' is not a certificate subject DN such as CN=demo-A-client.");
                return;
            }
            foreach (char c in identity)
            {
                if (char.IsControl(c) || c == '"' || c == '\'')
                {
                    add("ColoConfigTlsInvalidIdentity", field, $"'{identity}' holds a quote or control character.");
                    return;
                }
            }
        }
    }
}
