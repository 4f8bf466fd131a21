using System;
using System.IO;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ColoPS.Qmp
{
    /// <summary>
    /// How a client reaches a QMP monitor served over TLS: the certificate it proves itself with,
    /// the CA the server's certificate must chain to, and the name or address that certificate
    /// must carry. Nothing falls back to the system's trust store: a monitor is trusted because the
    /// pair's own CA signed it, not because some public CA did.
    /// </summary>
    public sealed class QmpTlsOptions
    {
        public QmpTlsOptions(X509Certificate2 clientCertificate, X509Certificate2Collection authority, string? serverName = null)
        {
            ClientCertificate = clientCertificate ?? throw new ArgumentNullException(nameof(clientCertificate));
            if (!clientCertificate.HasPrivateKey) throw new ArgumentException("The client certificate has no private key.", nameof(clientCertificate));
            if (authority == null || authority.Count == 0) throw new ArgumentException("At least one CA certificate is required to check the server.", nameof(authority));
            Authority = authority;
            ServerName = string.IsNullOrEmpty(serverName) ? null : serverName;
        }

        public X509Certificate2 ClientCertificate { get; }
        public X509Certificate2Collection Authority { get; }

        /// <summary>The name or IP address the server's certificate must hold; the endpoint's host when null.</summary>
        public string? ServerName { get; }

        /// <summary>The client's subject DN, as the monitor's tls-authz sees it.</summary>
        public string ClientIdentity => ClientCertificate.Subject;

        /// <summary>PEM files: a certificate with its key, and the CA (several certificates may share the file).</summary>
        public static QmpTlsOptions FromPemFiles(string certificatePath, string keyPath, string authorityPath, string? serverName = null)
        {
            X509Certificate2 cert;
            var authority = new X509Certificate2Collection();
            try
            {
                cert = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
                authority.ImportFromPemFile(authorityPath);
            }
            catch (Exception ex) when (ex is IOException || ex is CryptographicException || ex is UnauthorizedAccessException || ex is ArgumentException)
            {
                throw new QmpTlsException($"Cannot read the client certificate {certificatePath}, its key {keyPath} or the CA {authorityPath}: {ex.Message}", ex);
            }
            if (authority.Count == 0) throw new QmpTlsException($"{authorityPath} holds no certificate.", null);
            return new QmpTlsOptions(cert, authority, serverName);
        }

        /// <summary>A folder in QEMU's x509 layout: ca-cert.pem, client-cert.pem and client-key.pem.</summary>
        public static QmpTlsOptions FromDirectory(string directory, string? serverName = null)
            => FromPemFiles(Path.Combine(directory, "client-cert.pem"), Path.Combine(directory, "client-key.pem"), Path.Combine(directory, "ca-cert.pem"), serverName);
    }

    /// <summary>The TLS handshake with a monitor failed: its certificate did not check out, or it refused ours.</summary>
    public sealed class QmpTlsException : QmpException
    {
        public QmpTlsException(string message, Exception? inner) : base(message, inner) { }
    }
}
