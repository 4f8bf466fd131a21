using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Qemu;

namespace ColoPS.Tls
{
    /// <summary>
    /// Makes what a pair needs for TLS with Debian's openssl: one CA, and for each site a server and
    /// a client certificate carrying the site's address, in the folder layout QEMU's tls-creds-x509
    /// reads. The CA key stays in its own folder: the sites never need it, so it is not copied.
    /// </summary>
    public static class ColoCertificateMaker
    {
        private static readonly TimeSpan s_stepTimeout = TimeSpan.FromSeconds(60);

        /// <summary>The subject DN of a site's client certificate, as QEMU reports it to authz.</summary>
        public static string ClientIdentityOf(ColoConfig config, ColoSite site) => $"CN={config.Name}-{site}-client";

        /// <summary>The subject DN of the operator's client certificate, for the remote QMP monitors' tls-authz.</summary>
        public static string OperatorIdentityOf(ColoConfig config) => $"CN={config.Name}-operator";

        public static string CaDirectoryOf(string path) => Path.Combine(path, "ca");
        /// <summary>The operator's folder: ca-cert.pem, client-cert.pem, client-key.pem (Connect-ColoNode -Remote -CertificateDirectory).</summary>
        public static string OperatorDirectoryOf(string path) => Path.Combine(path, "operator");
        public static string SiteDirectoryOf(string path, ColoSite site) => Path.Combine(path, site.ToString());

        /// <summary>Every file CreateAsync writes, so a caller can ask before overwriting any.</summary>
        public static IEnumerable<string> FilesOf(string path)
        {
            yield return Path.Combine(CaDirectoryOf(path), "ca-cert.pem");
            yield return Path.Combine(CaDirectoryOf(path), "ca-key.pem");
            foreach (var site in new[] { ColoSite.A, ColoSite.B })
                foreach (var f in ColoTlsConfig.RequiredFiles) yield return Path.Combine(SiteDirectoryOf(path, site), f);
            foreach (var f in OperatorFiles) yield return Path.Combine(OperatorDirectoryOf(path), f);
        }

        private static readonly string[] OperatorFiles = { ColoTlsConfig.CaCertificate, ColoTlsConfig.ClientCertificate, ColoTlsConfig.ClientKey };

        public static async Task<ColoTlsConfig> CreateAsync(ColoConfig config, string path, int validDays, bool overwrite, string openssl, CancellationToken ct)
        {
            if (!Path.IsPathRooted(path))
                throw new ColoException("ColoCertificateInvalidPath", ColoErrorKind.InvalidArgument, $"'{path}' is not an absolute folder path.");
            if (validDays < 1 || validDays > 3650)
                throw new ColoException("ColoCertificateInvalidValidity", ColoErrorKind.InvalidArgument, $"{validDays} days is out of range (1 to 3650).");
            foreach (var site in new[] { ColoSite.A, ColoSite.B })
            {
                if (!System.Net.IPAddress.TryParse(config.GetSite(site)?.Address, out _))
                    throw new ColoException("ColoCertificateInvalidAddress", ColoErrorKind.InvalidArgument, $"Site {site} has no IP address ('{config.GetSite(site)?.Address}') to put in its certificates.");
            }
            if (!overwrite)
            {
                foreach (var f in FilesOf(path))
                {
                    if (File.Exists(f))
                        throw new ColoException("ColoCertificateExists", ColoErrorKind.InvalidState, $"{f} exists already; use -Force to replace the pair's certificates (both sites then need the new ones).");
                }
            }

            var ca = CaDirectoryOf(path);
            CreatePrivateDirectory(ca);
            var caKey = Path.Combine(ca, "ca-key.pem");
            var caCert = Path.Combine(ca, "ca-cert.pem");
            var days = validDays.ToString(CultureInfo.InvariantCulture);
            await NewKeyAsync(openssl, caKey, ct).ConfigureAwait(false);
            await RunAsync(openssl, ct, "req", "-x509", "-new", "-key", caKey, "-subj", $"/CN={config.Name} ColoPS CA", "-days", days, "-sha256",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", caCert).ConfigureAwait(false);

            var tls = new ColoTlsConfig();
            foreach (var site in new[] { ColoSite.A, ColoSite.B })
            {
                var dir = SiteDirectoryOf(path, site);
                CreatePrivateDirectory(dir);
                var address = config.GetSite(site).Address;
                // The remote monitor's address too, when it is another one: a client checks it there.
                var management = config.GetSite(site).Management?.Address;
                var serverSan = "IP:" + address + (System.Net.IPAddress.TryParse(management, out var m) && m.ToString() != address ? ",IP:" + management : string.Empty);
                await LeafAsync(openssl, ca, dir, "server", $"/CN={config.Name}-{site}-server", "serverAuth", serverSan, days, ct).ConfigureAwait(false);
                await LeafAsync(openssl, ca, dir, "client", "/" + ClientIdentityOf(config, site), "clientAuth", "IP:" + address, days, ct).ConfigureAwait(false);
                File.Copy(caCert, Path.Combine(dir, ColoTlsConfig.CaCertificate), overwrite: true);
                var siteTls = new ColoTlsSiteConfig { CertificateDirectory = dir, ClientIdentity = ClientIdentityOf(config, site) };
                if (site == ColoSite.A) tls.SiteA = siteTls; else tls.SiteB = siteTls;
            }
            // The operator's certificate: a client of the remote monitors only, not of the COLO links.
            var op = OperatorDirectoryOf(path);
            CreatePrivateDirectory(op);
            await LeafAsync(openssl, ca, op, "client", "/" + OperatorIdentityOf(config), "clientAuth", null, days, ct).ConfigureAwait(false);
            File.Copy(caCert, Path.Combine(op, ColoTlsConfig.CaCertificate), overwrite: true);
            tls.OperatorIdentities = new[] { OperatorIdentityOf(config) };
            return tls;
        }

        private static async Task LeafAsync(string openssl, string ca, string dir, string kind, string subject, string purpose, string? subjectAltName, string days, CancellationToken ct)
        {
            var key = Path.Combine(dir, kind + "-key.pem");
            var cert = Path.Combine(dir, kind + "-cert.pem");
            var csr = Path.Combine(ca, kind + ".csr");
            var ext = Path.Combine(ca, kind + ".ext");
            // QEMU's x509 checks want a non-CA certificate whose key usage allows signing and key
            // encipherment and whose purpose matches its end; gnutls matches the peer's address
            // against an IP subjectAltName.
            var lines = new List<string> { "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=" + purpose };
            if (subjectAltName != null) lines.Add("subjectAltName=" + subjectAltName);
            File.WriteAllText(ext, string.Join("\n", lines) + "\n");
            try
            {
                await NewKeyAsync(openssl, key, ct).ConfigureAwait(false);
                await RunAsync(openssl, ct, "req", "-new", "-key", key, "-subj", subject, "-out", csr).ConfigureAwait(false);
                await RunAsync(openssl, ct, "x509", "-req", "-in", csr, "-CA", Path.Combine(ca, "ca-cert.pem"), "-CAkey", Path.Combine(ca, "ca-key.pem"),
                    "-set_serial", "0x" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)), "-days", days, "-sha256", "-extfile", ext, "-out", cert).ConfigureAwait(false);
            }
            finally
            {
                File.Delete(csr);
                File.Delete(ext);
            }
        }

        private static Task NewKeyAsync(string openssl, string key, CancellationToken ct)
        {
            // The file exists with mode 0600 before openssl writes the key into it: no moment where
            // the key is readable by others, whatever the umask.
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (new FileStream(key, options)) { }
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            return RunAsync(openssl, ct, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key);
        }

        private static void CreatePrivateDirectory(string dir)
        {
            if (OperatingSystem.IsWindows()) { Directory.CreateDirectory(dir); return; }
            const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            Directory.CreateDirectory(dir, ownerOnly);
            // A folder that was there already (-Force over an older set) keeps its mode otherwise.
            File.SetUnixFileMode(dir, ownerOnly);
        }

        private static async Task RunAsync(string openssl, CancellationToken ct, params string[] args)
        {
            ProcessResult r;
            try
            {
                r = await ProcessRunner.RunAsync(openssl, args, null, s_stepTimeout, ct).ConfigureAwait(false);
            }
            catch (ColoException ex) when (ex.ErrorId == "ProcessStartFailed")
            {
                throw new ColoException("ColoCertificateToolNotFound", ColoErrorKind.ResourceUnavailable, $"Cannot run '{openssl}' (install the openssl package): {ex.Message}", ex);
            }
            if (r.ExitCode != 0)
                throw new ColoException("ColoCertificateFailed", ColoErrorKind.ProcessFailed, $"openssl {args[0]} failed (exit {r.ExitCode}): {r.StandardError.Trim()}");
        }
    }
}
