using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ColoPS.Colo
{
    /// <summary>
    /// Whether a site's certificates fit the configuration, read before any QEMU starts: a peer
    /// checks the site's server certificate against the address it dials, and the site's tls-authz
    /// peers compare its client certificate's subject with ClientIdentity. A misfit found only by
    /// QEMU is a handshake that fails in the middle of a start or a failover, seen as a timeout.
    /// </summary>
    internal static class ColoTlsCertificateCheck
    {
        private const string SubjectAlternativeNameOid = "2.5.29.17";

        public static void Check(ColoConfig config, ColoSite site, ColoTlsSiteConfig tls, string field, Action<string, string, string> add)
        {
            var server = Load(tls.PathOf(ColoTlsConfig.ServerCertificate), field, add);
            if (server != null)
            {
                using (server)
                {
                    var names = Names(server);
                    var dialled = new List<string> { config.GetSite(site).Address };
                    var management = config.GetSite(site).Management;
                    if (management != null && !string.IsNullOrEmpty(management.Address)) dialled.Add(management.Address);
                    foreach (var address in dialled.Distinct(StringComparer.OrdinalIgnoreCase))
                    {
                        if (!Covers(names, address))
                        {
                            add("ColoConfigTlsNameMismatch", field + ".CertificateDirectory",
                                $"{tls.PathOf(ColoTlsConfig.ServerCertificate)} names {(names.Count == 0 ? "no address" : string.Join(", ", names))}, not {address}, which site {site}'s peers dial; make the certificates for this configuration again (New-ColoCertificate).");
                        }
                    }
                }
            }

            var client = Load(tls.PathOf(ColoTlsConfig.ClientCertificate), field, add);
            if (client != null)
            {
                using (client)
                {
                    if (!string.IsNullOrEmpty(tls.ClientIdentity) && !SameName(client.SubjectName.Name, tls.ClientIdentity))
                    {
                        add("ColoConfigTlsIdentityMismatch", field + ".ClientIdentity",
                            $"{tls.PathOf(ColoTlsConfig.ClientCertificate)} is for '{client.SubjectName.Name}', but ClientIdentity is '{tls.ClientIdentity}': the peer's tls-authz would refuse it.");
                    }
                }
            }
        }

        private static X509Certificate2? Load(string path, string field, Action<string, string, string> add)
        {
            if (!File.Exists(path)) return null; // reported as missing by the caller
            try
            {
                return X509Certificate2.CreateFromPem(File.ReadAllText(path));
            }
            catch (Exception ex) when (ex is CryptographicException || ex is IOException || ex is UnauthorizedAccessException)
            {
                add("ColoConfigTlsFileInvalid", field + ".CertificateDirectory", $"{path} is not a PEM certificate QEMU could use: {ex.Message}");
                return null;
            }
        }

        private static List<string> Names(X509Certificate2 certificate)
        {
            var names = new List<string>();
            foreach (var extension in certificate.Extensions)
            {
                if (extension.Oid?.Value != SubjectAlternativeNameOid) continue;
                var san = new X509SubjectAlternativeNameExtension(extension.RawData, extension.Critical);
                names.AddRange(san.EnumerateIPAddresses().Select(ip => ip.ToString()));
                names.AddRange(san.EnumerateDnsNames());
            }
            return names;
        }

        private static bool Covers(List<string> names, string address)
            => IPAddress.TryParse(address, out var ip)
                ? names.Any(n => IPAddress.TryParse(n, out var m) && m.Equals(ip))
                : names.Any(n => string.Equals(n, address, StringComparison.OrdinalIgnoreCase));

        /// <summary>The same distinguished name, whatever the order of its parts and the blanks after commas (.NET and GnuTLS write them differently).</summary>
        internal static bool SameName(string a, string b) => Parts(a).SequenceEqual(Parts(b), StringComparer.OrdinalIgnoreCase);

        private static IEnumerable<string> Parts(string dn)
            => dn.Split(',').Select(p => p.Trim()).Where(p => p.Length > 0).OrderBy(p => p, StringComparer.OrdinalIgnoreCase);
    }
}
