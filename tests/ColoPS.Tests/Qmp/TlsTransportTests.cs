using System;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>
    /// The TLS transport against an in-process TLS monitor: the session works through it, and every
    /// way the server's certificate can be wrong ends in a QmpTlsException before any QMP is read.
    /// (Real QEMU monitors refusing clients: tests/Pester/ColoRemote.Tests.ps1.)
    /// </summary>
    public class TlsTransportTests
    {
        private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

        private sealed class Pki
        {
            public Pki(string name)
            {
                using var key = RSA.Create(2048);
                var req = new CertificateRequest($"CN={name} CA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
                req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
                Ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            }

            public X509Certificate2 Ca { get; }

            public X509Certificate2 Leaf(string cn, bool server, IPAddress? address)
            {
                var key = RSA.Create(2048);
                var req = new CertificateRequest($"CN={cn}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
                req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2") }, false));
                if (address != null)
                {
                    var san = new SubjectAlternativeNameBuilder();
                    san.AddIpAddress(address);
                    req.CertificateExtensions.Add(san.Build());
                }
                var serial = RandomNumberGenerator.GetBytes(12);
                using var signed = req.Create(Ca, DateTimeOffset.UtcNow.AddMinutes(-5), Ca.NotAfter.AddMinutes(-1), serial);
                // An exportable copy with its key: SslStream on Linux wants the key in the certificate it is handed.
                return X509CertificateLoader.LoadPkcs12(signed.CopyWithPrivateKey(key).Export(X509ContentType.Pfx), null);
            }
        }

        /// <summary>A one-connection TLS QMP monitor: greeting, then a reply to every command; records whom it served.</summary>
        private sealed class TlsMonitor : IDisposable
        {
            private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
            private readonly X509Certificate2 _cert;
            private readonly X509Certificate2 _clientCa;
            public string? ClientSubject;
            public Task Served = Task.CompletedTask;

            public TlsMonitor(X509Certificate2 cert, X509Certificate2 clientCa)
            {
                _cert = cert;
                _clientCa = clientCa;
                _listener.Start();
                Served = Task.Run(ServeAsync);
            }

            public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

            private async Task ServeAsync()
            {
                using var client = await _listener.AcceptTcpClientAsync().ConfigureAwait(false);
                using var ssl = new SslStream(client.GetStream(), false);
                try
                {
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _cert,
                        ClientCertificateRequired = true,
                        RemoteCertificateValidationCallback = (_, c, _, _) =>
                        {
                            if (c == null) return false;
                            using var chain = new X509Chain();
                            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                            chain.ChainPolicy.CustomTrustStore.Add(_clientCa);
                            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                            return chain.Build(new X509Certificate2(c));
                        },
                    }).ConfigureAwait(false);
                }
                catch (Exception) { return; }
                ClientSubject = ssl.RemoteCertificate?.Subject;
                var greeting = Encoding.UTF8.GetBytes("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 3, \"minor\": 1, \"major\": 11}, \"package\": \"\"}, \"capabilities\": []}}\r\n");
                await ssl.WriteAsync(greeting).ConfigureAwait(false);
                var reader = new StreamReader(ssl, Encoding.UTF8);
                string? line;
                while ((line = await reader.ReadLineAsync().ConfigureAwait(false)) != null)
                {
                    int at = line.IndexOf("\"id\":", StringComparison.Ordinal);
                    string id = line.Substring(at + 5).Trim().TrimEnd('}').Trim();
                    string ret = line.Contains("query-status", StringComparison.Ordinal) ? "{\"status\": \"running\", \"running\": true}" : "{}";
                    await ssl.WriteAsync(Encoding.UTF8.GetBytes("{\"return\": " + ret + ", \"id\": " + id + "}\r\n")).ConfigureAwait(false);
                }
            }

            public void Dispose() => _listener.Stop();
        }

        private static QmpTlsOptions Client(Pki pki, X509Certificate2? authority = null, string? serverName = null)
            => new QmpTlsOptions(pki.Leaf("op", server: false, null), new X509Certificate2Collection(authority ?? pki.Ca), serverName);

        [Fact]
        public async Task A_session_runs_over_TLS_with_the_client_certificate()
        {
            var pki = new Pki("pair");
            using var monitor = new TlsMonitor(pki.Leaf("site", server: true, IPAddress.Loopback), pki.Ca);
            using var session = await QmpSession.ConnectAsync(QmpEndpoint.TcpTls("127.0.0.1", monitor.Port, Client(pki)), new QmpSessionOptions { ConnectTimeout = s_timeout });
            var status = await session.ExecuteAsync("query-status");
            Assert.Equal("running", status.GetProperty("status").GetString());
            Assert.Equal("CN=op", monitor.ClientSubject);
            Assert.Equal("tls:127.0.0.1:" + monitor.Port, session.Endpoint.ToString());
        }

        [Fact]
        public async Task A_server_of_another_CA_is_refused()
        {
            var pair = new Pki("pair");
            var other = new Pki("other");
            using var monitor = new TlsMonitor(other.Leaf("site", server: true, IPAddress.Loopback), pair.Ca);
            var ex = await Assert.ThrowsAsync<QmpTlsException>(() => QmpSession.ConnectAsync(QmpEndpoint.TcpTls("127.0.0.1", monitor.Port, Client(pair)), new QmpSessionOptions { ConnectTimeout = s_timeout }));
            Assert.Contains("does not chain to the given CA", ex.Message);
        }

        [Fact]
        public async Task A_server_certificate_for_another_address_is_refused()
        {
            var pki = new Pki("pair");
            using var monitor = new TlsMonitor(pki.Leaf("site", server: true, IPAddress.Parse("10.1.2.3")), pki.Ca);
            var ex = await Assert.ThrowsAsync<QmpTlsException>(() => QmpSession.ConnectAsync(QmpEndpoint.TcpTls("127.0.0.1", monitor.Port, Client(pki)), new QmpSessionOptions { ConnectTimeout = s_timeout }));
            Assert.Contains("is not for 127.0.0.1", ex.Message);
        }

        [Fact]
        public async Task A_client_certificate_the_server_does_not_accept_ends_in_a_typed_error()
        {
            var pair = new Pki("pair");
            var other = new Pki("other");
            using var monitor = new TlsMonitor(pair.Leaf("site", server: true, IPAddress.Loopback), pair.Ca);
            // Our certificate is of another CA; we trust the pair's CA, so the server itself is fine.
            var tls = new QmpTlsOptions(other.Leaf("op", server: false, null), new X509Certificate2Collection(pair.Ca));
            await Assert.ThrowsAsync<QmpTlsException>(() => QmpSession.ConnectAsync(QmpEndpoint.TcpTls("127.0.0.1", monitor.Port, tls), new QmpSessionOptions { ConnectTimeout = s_timeout }));
        }

        [Fact]
        public async Task A_server_that_never_handshakes_times_out_as_a_TLS_error()
        {
            var pki = new Pki("pair");
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                int port = ((IPEndPoint)listener.LocalEndpoint).Port;
                var ex = await Assert.ThrowsAsync<QmpTlsException>(() => QmpSession.ConnectAsync(QmpEndpoint.TcpTls("127.0.0.1", port, Client(pki)), new QmpSessionOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) }));
                Assert.Contains("no TLS handshake within", ex.Message);
            }
            finally
            {
                listener.Stop();
            }
        }

        [Fact]
        public void Missing_certificate_files_are_a_typed_error()
        {
            var ex = Assert.Throws<QmpTlsException>(() => QmpTlsOptions.FromDirectory("/nonexistent/colops-tls"));
            Assert.Contains("client-cert.pem", ex.Message);
        }
    }
}
