using System;
using System.IO;

namespace ColoPS.Colo
{
    /// <summary>
    /// TLS on every COLO link between the sites (migration, NBD, the proxy's mirror and compare
    /// sockets). There is deliberately no per-link switch: a pair with one link in clear leaks the
    /// guest's disk or traffic all the same, so the section is all or nothing.
    /// </summary>
    public sealed class ColoTlsConfig
    {
        public ColoTlsSiteConfig? SiteA { get; set; }
        public ColoTlsSiteConfig? SiteB { get; set; }

        public ColoTlsSiteConfig? GetSite(ColoSite site) => site == ColoSite.A ? SiteA : SiteB;

        /// <summary>
        /// Subject DNs of the operators' client certificates (for example "CN=demo-operator") that a
        /// site's remote QMP monitor admits; no one else gets in. Used only with SiteX.Management.
        /// </summary>
        public string[] OperatorIdentities { get; set; } = Array.Empty<string>();

        /// <summary>The files QEMU's tls-creds-x509 reads from a folder; each site needs all of them because roles swap.</summary>
        public static readonly string[] RequiredFiles = { CaCertificate, ServerCertificate, ServerKey, ClientCertificate, ClientKey };

        public const string CaCertificate = "ca-cert.pem";
        public const string ServerCertificate = "server-cert.pem";
        public const string ServerKey = "server-key.pem";
        public const string ClientCertificate = "client-cert.pem";
        public const string ClientKey = "client-key.pem";
    }

    public sealed class ColoTlsSiteConfig
    {
        /// <summary>This site's folder in QEMU's x509 layout (ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem).</summary>
        public string CertificateDirectory { get; set; } = string.Empty;

        /// <summary>
        /// The subject DN of this site's client certificate as QEMU prints it (for example
        /// "CN=demo-A-client"). The other site's listeners admit this identity and no other.
        /// </summary>
        public string ClientIdentity { get; set; } = string.Empty;

        public string PathOf(string file) => Path.Combine(CertificateDirectory, file);
    }
}
