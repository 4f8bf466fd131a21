using System.Linq;
using ColoPS.Colo;
using ColoPS.Qemu;
using ColoPS.Tests.Colo;
using Xunit;

namespace ColoPS.Tests.Qemu
{
    /// <summary>
    /// With TLS, the secondary's migration port must not exist before TLS is required on it: a
    /// listener QEMU opens at start (-incoming tcp:) takes a VM state in clear until the QMP step
    /// that sets tls-creds and tls-authz has run.
    /// </summary>
    public class TlsIncomingTests
    {
        private static readonly QemuVersion V11 = new QemuVersion(11, 1, 3);

        private static ColoConfig WithTls()
        {
            var c = ColoPlansTests.Config();
            c.Tls = new ColoTlsConfig
            {
                SiteA = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colops/t/A", ClientIdentity = "CN=t-A-client" },
                SiteB = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colops/t/B", ClientIdentity = "CN=t-B-client" },
            };
            return c;
        }

        [Fact]
        public void A_TLS_secondary_starts_with_its_migration_port_closed()
        {
            var args = QemuCommandLine.Secondary(WithTls(), ColoSite.B, V11, ColoAccelerator.Tcg).ToList();
            int i = args.IndexOf("-incoming");
            Assert.True(i >= 0);
            Assert.Equal("defer", args[i + 1]);
            Assert.DoesNotContain(args, a => a.StartsWith("tcp:", System.StringComparison.Ordinal));
        }

        [Fact]
        public void A_plain_secondary_listens_from_the_start_as_the_procedure_does()
        {
            var c = ColoPlansTests.Config();
            var args = QemuCommandLine.Secondary(c, ColoSite.B, V11, ColoAccelerator.Tcg).ToList();
            Assert.Equal(QemuCommandLine.IncomingUri(c, ColoSite.B), args[args.IndexOf("-incoming") + 1]);
        }

        [Fact]
        public void The_port_opens_only_after_TLS_is_required_on_it()
        {
            var c = WithTls();
            var steps = ColoPlans.SecondaryPrepare(c, ColoSite.B, QemuFeatures.Of(V11)).Steps.ToList();
            int tls = steps.FindIndex(s => s.Command == "migrate-set-parameters" && s.Arguments!["tls-creds"] != null && s.Arguments["tls-authz"] != null);
            int open = steps.FindIndex(s => s.Command == "migrate-incoming");
            Assert.True(tls >= 0, "no step requires TLS on the checkpoint stream");
            Assert.True(open > tls, "migrate-incoming runs before TLS is required");
            Assert.Equal($"tcp:{c.SiteB.Address}:{c.Ports.Migration}", (string)steps[open].Arguments!["uri"]!);
            Assert.Single(steps, s => s.Command == "migrate-incoming");
        }
    }
}
