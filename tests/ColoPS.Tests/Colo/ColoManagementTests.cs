using System;
using System.Linq;
using ColoPS.Colo;
using ColoPS.Qemu;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>The remote QMP monitor's configuration: what validation refuses and what QEMU is given.</summary>
    public class ColoManagementTests
    {
        private static ColoConfig Remote()
        {
            var c = ColoPlansTests.Config();
            c.Tls = new ColoTlsConfig
            {
                SiteA = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colo/A", ClientIdentity = "CN=vm-A-client" },
                SiteB = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colo/B", ClientIdentity = "CN=vm-B-client" },
                OperatorIdentities = new[] { "CN=alice,O=ops", "CN=bob" },
            };
            c.SiteA.Management = new ColoManagementConfig { Address = c.SiteA.Address, Port = 4444 };
            c.SiteB.Management = new ColoManagementConfig { Address = c.SiteB.Address, Port = 4444 };
            return c;
        }

        private static string[] Ids(ColoConfig c, bool certificatesToCome = false)
            => ColoConfigValidator.Validate(c, ColoHostFiles.None, certificatesToCome).Select(p => p.ErrorId).ToArray();

        [Fact]
        public void A_pair_with_both_monitors_TLS_and_operators_is_valid() => Assert.Empty(Ids(Remote()));

        [Fact]
        public void One_site_without_a_monitor_is_refused()
        {
            var c = Remote();
            c.SiteA.Management = null;
            Assert.Equal(new[] { "ColoConfigManagementIncomplete" }, Ids(c));
        }

        [Fact]
        public void A_monitor_without_TLS_is_refused_at_a_start_but_not_while_the_certificates_are_to_come()
        {
            var c = Remote();
            c.Tls = null;
            Assert.Equal(new[] { "ColoConfigManagementNeedsTls" }, Ids(c));
            Assert.Empty(Ids(c, certificatesToCome: true));
        }

        [Fact]
        public void No_operator_is_refused()
        {
            var c = Remote();
            c.Tls!.OperatorIdentities = Array.Empty<string>();
            Assert.Equal(new[] { "ColoConfigManagementIncomplete" }, Ids(c));
        }

        [Theory]
        [InlineData("0.0.0.0", 4444, "ColoConfigInvalidAddress")]
        [InlineData("host.example", 4444, "ColoConfigInvalidAddress")]
        [InlineData("127.0.0.1", 0, "ColoConfigInvalidPort")]
        [InlineData("127.0.0.1", 9999, "ColoConfigDuplicatePort")]
        public void Bad_monitor_addresses_and_ports_are_refused(string address, int port, string id)
        {
            var c = Remote();
            c.SiteA.Management = new ColoManagementConfig { Address = address, Port = port };
            Assert.Contains(id, Ids(c));
        }

        [Fact]
        public void Both_monitors_on_one_address_and_port_are_refused()
        {
            var c = Remote();
            c.SiteB.Management = new ColoManagementConfig { Address = c.SiteA.Address, Port = 4444 };
            Assert.Contains("ColoConfigDuplicatePort", Ids(c));
        }

        [Fact]
        public void QEMU_serves_the_monitor_on_the_management_address_with_client_certificates_and_the_operators_only()
        {
            var c = Remote();
            var args = QemuTls.ManagementMonitor(c, ColoSite.B).ToArray();
            Assert.Equal(6, args.Length);
            Assert.Equal("-object", args[0]);
            Assert.Equal("{\"qom-type\":\"authz-list\",\"id\":\"authz-mgmt0\",\"policy\":\"deny\",\"rules\":["
                + "{\"match\":\"CN=alice,O=ops\",\"policy\":\"allow\",\"format\":\"exact\"},{\"match\":\"CN=bob\",\"policy\":\"allow\",\"format\":\"exact\"}]}", args[1]);
            Assert.Equal("-chardev", args[2]);
            Assert.Equal($"socket,id=mgmt0,host={c.SiteB.Address},port=4444,server=on,wait=off,tls-creds=tls-server0,tls-authz=authz-mgmt0", args[3]);
            Assert.Equal(new[] { "-mon", "chardev=mgmt0,mode=control" }, args[4..]);
            // QEMU 11 calls -mon deprecated and takes a monitor object instead.
            var on11 = QemuTls.ManagementMonitor(c, ColoSite.B, QemuFeatures.Of(QemuVersion.Parse("11.1.3"))).ToArray();
            Assert.Equal(new[] { "-object", "monitor-qmp,id=mon-mgmt0,chardev=mgmt0" }, on11[4..]);
            Assert.Equal(args[..4], on11[..4]);
            // The server credentials the monitor names demand a client certificate.
            Assert.Contains(QemuTls.Objects(c, ColoSite.B), a => a.StartsWith("tls-creds-x509,id=tls-server0,", StringComparison.Ordinal) && a.EndsWith("endpoint=server,verify-peer=on", StringComparison.Ordinal));
        }

        [Fact]
        public void Without_a_management_section_QEMU_gets_no_remote_monitor()
        {
            var c = Remote();
            c.SiteA.Management = null;
            Assert.Empty(QemuTls.ManagementMonitor(c, ColoSite.A));
        }
    }
}
