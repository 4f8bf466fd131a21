using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Tests.Colo;
using ColoPS.Tls;
using Xunit;

namespace ColoPS.Tests.Tls
{
    /// <summary>
    /// The certificates of a pair, made with the real openssl of the host: the files QEMU's
    /// tls-creds-x509 reads per site, keys only their owner can read, each site's address in its
    /// certificates, and refusals of what would make unusable certificates.
    /// </summary>
    public sealed class ColoCertificateMakerTests : IDisposable
    {
        private const string OpenSsl = "openssl";
        private readonly string _root = Path.Combine(Path.GetTempPath(), "colops-certs-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public void Dispose()
        {
            if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
        }

        private static ColoConfig Pair()
        {
            var c = ColoPlansTests.Config();
            // Site A's monitor on its own address, site B's on another one (its certificate names both).
            c.SiteA.Management = new ColoManagementConfig { Address = "127.0.0.1", Port = 4444 };
            c.SiteB.Management = new ColoManagementConfig { Address = "10.9.0.2", Port = 4445 };
            return c;
        }

        private Task<ColoTlsConfig> MakeAsync(ColoConfig c, int days = 30, bool overwrite = false, string openssl = OpenSsl)
            => ColoCertificateMaker.CreateAsync(c, _root, days, overwrite, openssl, CancellationToken.None);

        private static X509Certificate2 Load(string path) => X509CertificateLoader.LoadCertificateFromFile(path);

        private static string San(X509Certificate2 cert)
            => cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Select(e => string.Join(",", e.EnumerateIPAddresses())).SingleOrDefault() ?? string.Empty;

        private static string[] Purposes(X509Certificate2 cert)
            => cert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value!).ToArray();

        [Fact]
        public async Task Writes_QEMUs_layout_per_site_with_private_keys_and_the_CA_key_apart()
        {
            var tls = await MakeAsync(Pair());
            foreach (var f in ColoCertificateMaker.FilesOf(_root)) Assert.True(File.Exists(f), f + " was written");
            Assert.Equal(Path.Combine(_root, "A"), tls.SiteA!.CertificateDirectory);
            Assert.Equal(Path.Combine(_root, "B"), tls.SiteB!.CertificateDirectory);
            Assert.Equal("CN=demo-A-client", tls.SiteA.ClientIdentity);
            Assert.Equal("CN=demo-B-client", tls.SiteB.ClientIdentity);
            Assert.Equal(new[] { "CN=demo-operator" }, tls.OperatorIdentities);
            // Only what QEMU reads: no CA key, no request or extension file left in any folder.
            foreach (var dir in new[] { "A", "B" })
                Assert.Equal(ColoTlsConfig.RequiredFiles.OrderBy(f => f, StringComparer.Ordinal), Directory.GetFiles(Path.Combine(_root, dir)).Select(Path.GetFileName).OrderBy(f => f, StringComparer.Ordinal));
            Assert.Equal(new[] { "ca-cert.pem", "client-cert.pem", "client-key.pem" }, Directory.GetFiles(Path.Combine(_root, "operator")).Select(Path.GetFileName).OrderBy(f => f, StringComparer.Ordinal));
            Assert.Equal(new[] { "ca-cert.pem", "ca-key.pem" }, Directory.GetFiles(Path.Combine(_root, "ca")).Select(Path.GetFileName).OrderBy(f => f, StringComparer.Ordinal));
            if (OperatingSystem.IsWindows()) return;
            foreach (var key in Directory.GetFiles(_root, "*-key.pem", SearchOption.AllDirectories))
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
            foreach (var dir in new[] { "ca", "A", "B", "operator" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_root, dir)));
            // The validator takes what was made (a site's host checks exactly these files).
            var c = Pair();
            c.Tls = tls;
            Assert.Empty(ColoConfigValidator.Validate(c, ColoHostFiles.HeldHere(c)));
        }

        [Fact]
        public async Task Puts_each_sites_address_in_its_certificates_and_the_monitors_when_it_differs()
        {
            await MakeAsync(Pair());
            Assert.Equal("127.0.0.1", San(Load(Path.Combine(_root, "A", "server-cert.pem"))));
            Assert.Equal("127.0.0.2,10.9.0.2", San(Load(Path.Combine(_root, "B", "server-cert.pem"))));
            Assert.Equal("127.0.0.1", San(Load(Path.Combine(_root, "A", "client-cert.pem"))));
            Assert.Equal(string.Empty, San(Load(Path.Combine(_root, "operator", "client-cert.pem"))));
            Assert.Equal("CN=demo-B-client", Load(Path.Combine(_root, "B", "client-cert.pem")).Subject);
            Assert.Equal("CN=demo-operator", Load(Path.Combine(_root, "operator", "client-cert.pem")).Subject);
        }

        [Fact]
        public async Task Server_and_client_certificates_are_leaves_for_their_end_signed_by_the_pairs_CA()
        {
            await MakeAsync(Pair(), days: 30);
            var ca = Load(Path.Combine(_root, "ca", "ca-cert.pem"));
            Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
            foreach (var (file, purpose) in new[] { ("A/server-cert.pem", "1.3.6.1.5.5.7.3.1"), ("B/client-cert.pem", "1.3.6.1.5.5.7.3.2"), ("operator/client-cert.pem", "1.3.6.1.5.5.7.3.2") })
            {
                var cert = Load(Path.Combine(_root, file));
                Assert.False(cert.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority, file);
                Assert.Equal(new[] { purpose }, Purposes(cert));
                var usage = cert.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages;
                Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, usage);
                Assert.InRange((cert.NotAfter - cert.NotBefore).TotalDays, 29.9, 30.1);
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                Assert.True(chain.Build(cert), file + " chains to the pair's CA");
            }
        }

        [Fact]
        public async Task Refuses_to_overwrite_without_being_told_and_replaces_everything_when_told()
        {
            await MakeAsync(Pair());
            var before = File.ReadAllText(Path.Combine(_root, "ca", "ca-cert.pem"));
            var ex = await Assert.ThrowsAsync<ColoException>(() => MakeAsync(Pair()));
            Assert.Equal("ColoCertificateExists", ex.ErrorId);
            Assert.Equal(ColoErrorKind.InvalidState, ex.Kind);
            Assert.Equal(before, File.ReadAllText(Path.Combine(_root, "ca", "ca-cert.pem")));
            // A folder someone opened up since is made private again by the overwrite.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(_root, "A"), (UnixFileMode)0b111_101_101);
            await MakeAsync(Pair(), overwrite: true);
            Assert.NotEqual(before, File.ReadAllText(Path.Combine(_root, "ca", "ca-cert.pem")));
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_root, "A")));
        }

        [Theory]
        [InlineData("relative", 30, "127.0.0.1", "ColoCertificateInvalidPath", ColoErrorKind.InvalidArgument)]
        [InlineData(null, 0, "127.0.0.1", "ColoCertificateInvalidValidity", ColoErrorKind.InvalidArgument)]
        [InlineData(null, 3651, "127.0.0.1", "ColoCertificateInvalidValidity", ColoErrorKind.InvalidArgument)]
        [InlineData(null, 30, "host.example", "ColoCertificateInvalidAddress", ColoErrorKind.InvalidArgument)]
        public async Task Refuses_bad_input_before_writing_anything(string? path, int days, string addressA, string id, ColoErrorKind kind)
        {
            var c = Pair();
            c.SiteA.Address = addressA;
            var ex = await Assert.ThrowsAsync<ColoException>(() => ColoCertificateMaker.CreateAsync(c, path ?? _root, days, false, OpenSsl, CancellationToken.None));
            Assert.Equal(id, ex.ErrorId);
            Assert.Equal(kind, ex.Kind);
            Assert.False(Directory.Exists(_root));
        }

        [Fact]
        public async Task A_missing_openssl_is_a_typed_error()
        {
            var ex = await Assert.ThrowsAsync<ColoException>(() => MakeAsync(Pair(), openssl: "/nonexistent/openssl"));
            Assert.Equal("ColoCertificateToolNotFound", ex.ErrorId);
            Assert.Equal(ColoErrorKind.ResourceUnavailable, ex.Kind);
            // It stopped at the CA's key: no site folder, so no half pair to be used by mistake.
            Assert.False(Directory.Exists(Path.Combine(_root, "A")));
        }
    }
}
