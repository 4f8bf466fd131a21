using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>
    /// The TLS layer of a session over TCP. The session keeps its socket (shutting it down still
    /// wakes the reader and a stuck writer) and reads and writes through this channel instead of
    /// the socket. SslStream allows one reader and one writer at a time, which is how the session
    /// uses it: the reader thread, and writers under the write lock.
    /// </summary>
    internal sealed class QmpTlsChannel : IDisposable
    {
        private readonly SslStream _ssl;

        private QmpTlsChannel(SslStream ssl) => _ssl = ssl;

        public int Read(Span<byte> buffer) => _ssl.Read(buffer);

        public void Write(ReadOnlySpan<byte> bytes)
        {
            _ssl.Write(bytes);
            _ssl.Flush();
        }

        public void Dispose()
        {
            try { _ssl.Dispose(); } catch (Exception) { /* the socket is gone already */ }
        }

        /// <summary>The client handshake on a connected socket; the server must chain to the options' CA and carry their name.</summary>
        public static async Task<QmpTlsChannel> AuthenticateAsync(Socket socket, QmpEndpoint endpoint, QmpTlsOptions tls, TimeSpan timeout, CancellationToken cancellationToken)
        {
            string target = tls.ServerName ?? endpoint.HostName!;
            string? refusal = null;
            var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
            var auth = new SslClientAuthenticationOptions
            {
                TargetHost = IPAddress.TryParse(target, out _) ? string.Empty : target,
                ClientCertificates = new X509CertificateCollection { tls.ClientCertificate },
                LocalCertificateSelectionCallback = (_, _, _, _, _) => tls.ClientCertificate,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    refusal = Check(cert as X509Certificate2 ?? (cert == null ? null : new X509Certificate2(cert)), tls.Authority, target);
                    return refusal == null;
                },
            };
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                await ssl.AuthenticateAsClientAsync(auth, cts.Token).ConfigureAwait(false);
                // TLS 1.3 sends the server's verdict on our certificate after the handshake: a
                // refused client learns it only at its first read, which the greeting wait reports.
                return new QmpTlsChannel(ssl);
            }
            catch (Exception ex) when (ex is AuthenticationException || ex is IOException || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                ssl.Dispose();
                string why = refusal ?? (ex is OperationCanceledException
                    ? $"no TLS handshake within {timeout.TotalSeconds:0.###} s"
                    : (ex.InnerException?.Message ?? ex.Message));
                throw new QmpTlsException($"The TLS handshake with the QMP monitor at {endpoint} failed: {why}", ex);
            }
            catch
            {
                ssl.Dispose();
                throw;
            }
        }

        /// <summary>Why the server's certificate is refused, or null: it chains to one of our CAs only, and it names the target.</summary>
        internal static string? Check(X509Certificate2? cert, X509Certificate2Collection authority, string target)
        {
            if (cert == null) return "the server sent no certificate";
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1"));
            if (!chain.Build(cert))
            {
                var reasons = new List<string>();
                foreach (var s in chain.ChainStatus) reasons.Add(s.StatusInformation.Trim());
                return $"the server's certificate ({cert.Subject}) does not chain to the given CA: {string.Join("; ", reasons)}";
            }
            if (!NameMatches(cert, target)) return $"the server's certificate ({cert.Subject}) is not for {target}";
            return null;
        }

        private static bool NameMatches(X509Certificate2 cert, string target)
        {
            bool isIp = IPAddress.TryParse(target, out var ip);
            foreach (var ext in cert.Extensions)
            {
                if (ext is not X509SubjectAlternativeNameExtension san) continue;
                if (isIp)
                {
                    foreach (var a in san.EnumerateIPAddresses()) if (a.Equals(ip)) return true;
                }
                else
                {
                    foreach (var n in san.EnumerateDnsNames()) if (string.Equals(n, target, StringComparison.OrdinalIgnoreCase)) return true;
                }
            }
            return false;
        }
    }
}
