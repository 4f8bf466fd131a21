using System.Security.Cryptography.X509Certificates;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>The client certificate parameters Connect-QmpSession and Connect-ColoNode share, turned into the core's TLS options.</summary>
    internal static class TlsClientParameters
    {
        public const string DirectoryHelp = "A folder in QEMU's x509 layout holding ca-cert.pem, client-cert.pem and client-key.pem (New-ColoCertificate's operator folder).";

        /// <summary>From a folder, or from certificates; null when neither was given.</summary>
        public static QmpTlsOptions? From(string? directory, X509Certificate2? certificate, X509Certificate2[]? authority, string? serverName)
        {
            if (directory != null) return QmpTlsOptions.FromDirectory(directory, serverName);
            if (certificate == null) return null;
            return new QmpTlsOptions(certificate, new X509Certificate2Collection(authority ?? System.Array.Empty<X509Certificate2>()), serverName);
        }
    }
}
