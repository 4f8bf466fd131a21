using System;
using System.IO;
using System.Linq;
using ColoPS.Colo;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>
    /// Certificates that do not fit the configuration are refused before any QEMU starts: the
    /// server certificate must name every address a peer dials (the site's, its monitor's), the
    /// client certificate must be for the site's ClientIdentity.
    /// </summary>
    public sealed class ColoTlsCertificateCheckTests : IDisposable
    {
        private readonly string _root = Path.Combine(Path.GetTempPath(), "colops-certcheck-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public void Dispose()
        {
            if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
        }

        private ColoConfig Pair()
        {
            var c = ColoPlansTests.Config();
            c.Tls = new ColoTlsConfig
            {
                SiteA = new ColoTlsSiteConfig { CertificateDirectory = Path.Combine(_root, "A"), ClientIdentity = "CN=a-client" },
                SiteB = new ColoTlsSiteConfig { CertificateDirectory = Path.Combine(_root, "B"), ClientIdentity = "CN=b-client" },
            };
            return c;
        }

        private static string[] Ids(ColoConfig c)
            => ColoConfigValidator.Validate(c, ColoHostFiles.StartingSite(ColoSite.A)).Where(p => p.ErrorId.StartsWith("ColoConfigTls", StringComparison.Ordinal)).Select(p => p.ErrorId + "@" + p.Field).ToArray();

        [Fact]
        public void Certificates_made_for_the_site_pass()
        {
            var c = Pair();
            TestCertificates.WriteSiteFolder(c.Tls!.SiteA!.CertificateDirectory, "CN=a-client", c.SiteA.Address);
            Assert.Empty(Ids(c));
        }

        [Fact]
        public void A_server_certificate_for_another_address_is_refused_naming_both()
        {
            var c = Pair();
            TestCertificates.WriteSiteFolder(c.Tls!.SiteA!.CertificateDirectory, "CN=a-client", c.SiteB.Address);
            Assert.Equal(new[] { "ColoConfigTlsNameMismatch@Tls.SiteA.CertificateDirectory" }, Ids(c));
            var message = ColoConfigValidator.Validate(c, ColoHostFiles.StartingSite(ColoSite.A)).Single(p => p.ErrorId == "ColoConfigTlsNameMismatch").Message;
            Assert.Contains(c.SiteA.Address, message);
            Assert.Contains(c.SiteB.Address, message);
        }

        [Fact]
        public void A_server_certificate_without_the_monitor_address_is_refused()
        {
            var c = Pair();
            c.SiteA.Management = new ColoManagementConfig { Address = "10.9.0.1", Port = 4444 };
            TestCertificates.WriteSiteFolder(c.Tls!.SiteA!.CertificateDirectory, "CN=a-client", c.SiteA.Address);
            Assert.Contains("ColoConfigTlsNameMismatch@Tls.SiteA.CertificateDirectory", Ids(c));
            TestCertificates.WriteSiteFolder(c.Tls.SiteA.CertificateDirectory, "CN=a-client", c.SiteA.Address, "10.9.0.1");
            Assert.Empty(Ids(c));
        }

        [Fact]
        public void A_client_certificate_for_another_subject_is_refused()
        {
            var c = Pair();
            TestCertificates.WriteSiteFolder(c.Tls!.SiteA!.CertificateDirectory, "CN=b-client", c.SiteA.Address);
            Assert.Equal(new[] { "ColoConfigTlsIdentityMismatch@Tls.SiteA.ClientIdentity" }, Ids(c));
        }

        [Fact]
        public void A_file_that_is_no_certificate_is_refused()
        {
            var c = Pair();
            TestCertificates.WriteSiteFolder(c.Tls!.SiteA!.CertificateDirectory, "CN=a-client", c.SiteA.Address);
            File.WriteAllText(Path.Combine(c.Tls.SiteA.CertificateDirectory, ColoTlsConfig.ServerCertificate), "not a certificate");
            Assert.Equal(new[] { "ColoConfigTlsFileInvalid@Tls.SiteA.CertificateDirectory" }, Ids(c));
        }

        [Fact]
        public void Only_the_starting_site_s_folder_is_read()
        {
            var c = Pair();
            TestCertificates.WriteSiteFolder(c.Tls!.SiteA!.CertificateDirectory, "CN=a-client", c.SiteA.Address);
            TestCertificates.WriteSiteFolder(c.Tls.SiteB!.CertificateDirectory, "CN=wrong", "192.0.2.9");
            Assert.Empty(Ids(c));
        }

        [Theory]
        [InlineData("CN=a-client", "CN=a-client", true)]
        [InlineData("CN=a-client, O=pair", "O=pair,CN=a-client", true)]
        [InlineData("cn=A-Client", "CN=a-client", true)]
        [InlineData("CN=a-client", "CN=a-client,O=pair", false)]
        [InlineData("CN=a-client", "CN=b-client", false)]
        public void Names_compare_by_their_parts(string a, string b, bool same) => Assert.Equal(same, ColoTlsCertificateCheck.SameName(a, b));
    }
}
