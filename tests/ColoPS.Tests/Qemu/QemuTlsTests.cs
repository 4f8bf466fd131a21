using System;
using System.Linq;
using System.Text.Json.Nodes;
using ColoPS.Colo;
using ColoPS.Qemu;
using ColoPS.Tests.Colo;
using Xunit;

namespace ColoPS.Tests.Qemu
{
    /// <summary>
    /// How a pair's TLS section turns into QEMU options, per site and role: each QEMU holds both
    /// credentials from its own folder and admits the peer site's client certificate only; the
    /// sockets the peer reaches carry TLS, the compare loops on this host never do.
    /// </summary>
    public class QemuTlsTests
    {
        private static readonly QemuVersion V11 = new QemuVersion(11, 1, 3);

        private static ColoConfig WithTls(string identityA = "CN=t-A-client", string identityB = "CN=t-B-client")
        {
            var c = ColoPlansTests.Config();
            c.Tls = new ColoTlsConfig
            {
                SiteA = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colops/t/A", ClientIdentity = identityA },
                SiteB = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colops/t/B", ClientIdentity = identityB },
            };
            return c;
        }

        [Theory]
        [InlineData(ColoSite.A, "/etc/colops/t/A", "CN=t-B-client")]
        [InlineData(ColoSite.B, "/etc/colops/t/B", "CN=t-A-client")]
        public void Each_site_holds_both_credentials_from_its_own_folder_and_admits_the_other_sites_client(ColoSite site, string dir, string peer)
        {
            Assert.Equal(new[]
            {
                "-object", $"tls-creds-x509,id=tls-server0,dir={dir},endpoint=server,verify-peer=on",
                "-object", $"tls-creds-x509,id=tls-client0,dir={dir},endpoint=client,verify-peer=on",
                "-object", $"authz-simple,id=authz0,identity={peer}",
            }, QemuTls.Objects(WithTls(), site).ToArray());
        }

        [Fact]
        public void A_DN_with_commas_is_doubled_for_QemuOpts()
        {
            var args = QemuTls.Objects(WithTls(identityB: "CN=b-client,O=Example,C=DE"), ColoSite.A).ToArray();
            Assert.Equal("authz-simple,id=authz0,identity=CN=b-client,,O=Example,,C=DE", args[5]);
        }

        [Fact]
        public void Without_TLS_nothing_is_added_anywhere()
        {
            var c = ColoPlansTests.Config();
            Assert.Empty(QemuTls.Objects(c, ColoSite.A));
            Assert.Equal(string.Empty, QemuTls.ServerChardevSuffix(c));
            Assert.Equal(string.Empty, QemuTls.ClientChardevSuffix(c));
            Assert.Equal(string.Empty, QemuTls.NbdClientOption(c));
            var data = new JsonObject { ["server"] = true };
            QemuTls.AddServer(c, data);
            Assert.Equal(@"{""server"":true}", data.ToJsonString());
            Assert.Equal("nbd://127.0.0.2:9999/parent0", QemuTls.MirrorTarget(c, c.SiteB));
            var primary = QemuCommandLine.Primary(c, ColoSite.A, V11, ColoAccelerator.Tcg);
            Assert.DoesNotContain(primary, a => a.Contains("tls", StringComparison.Ordinal));
        }

        [Fact]
        public void The_primary_serves_mirror_and_compare_with_TLS_and_keeps_the_compare_loops_plain()
        {
            var args = QemuCommandLine.Primary(WithTls(), ColoSite.A, V11, ColoAccelerator.Tcg).ToList();
            var chardevs = args.Where((a, i) => i > 0 && args[i - 1] == "-chardev").ToList();
            Assert.Contains("socket,id=mirror0,host=127.0.0.1,port=9003,server=on,wait=off,tls-creds=tls-server0,tls-authz=authz0", chardevs);
            Assert.Contains("socket,id=compare1,host=127.0.0.1,port=9004,server=on,wait=off,tls-creds=tls-server0,tls-authz=authz0", chardevs);
            foreach (var loop in new[] { "compare0", "compare0-0", "compare_out", "compare_out0" })
            {
                var line = Assert.Single(chardevs, c => c.StartsWith("socket,id=" + loop + ",", StringComparison.Ordinal));
                Assert.DoesNotContain("tls", line, StringComparison.Ordinal);
            }
            Assert.Equal(3, args.Count(a => a.StartsWith("tls-creds-x509,", StringComparison.Ordinal) || a.StartsWith("authz-simple,", StringComparison.Ordinal)));
        }

        [Fact]
        public void The_secondary_dials_mirror_and_compare_with_its_client_credentials()
        {
            var args = QemuCommandLine.Secondary(WithTls(), ColoSite.B, V11, ColoAccelerator.Tcg).ToList();
            var chardevs = args.Where((a, i) => i > 0 && args[i - 1] == "-chardev").ToList();
            Assert.Contains("socket,id=red0,host=127.0.0.1,port=9003,reconnect-ms=1000,tls-creds=tls-client0", chardevs);
            Assert.Contains("socket,id=red1,host=127.0.0.1,port=9004,reconnect-ms=1000,tls-creds=tls-client0", chardevs);
            Assert.Contains("tls-creds-x509,id=tls-client0,dir=/etc/colops/t/B,endpoint=client,verify-peer=on", args);
        }

        [Fact]
        public void A_listening_chardev_added_over_QMP_gets_the_server_credentials_and_the_authz()
        {
            var data = new JsonObject { ["server"] = true };
            QemuTls.AddServer(WithTls(), data);
            Assert.Equal(@"{""server"":true,""tls-creds"":""tls-server0"",""tls-authz"":""authz0""}", data.ToJsonString());
        }

        [Fact]
        public void The_replication_NBD_client_and_the_resync_target_use_the_client_credentials()
        {
            var c = WithTls();
            Assert.Equal(",file.tls-creds=tls-client0", QemuTls.NbdClientOption(c));
            var target = QemuTls.MirrorTarget(c, c.SiteB);
            Assert.StartsWith("json:", target, StringComparison.Ordinal);
            var nbd = JsonNode.Parse(target.Substring(5))!["file"]!;
            Assert.Equal("nbd", (string?)nbd["driver"]);
            Assert.Equal("tls-client0", (string?)nbd["tls-creds"]);
            Assert.Equal("parent0", (string?)nbd["export"]);
            Assert.Equal("inet", (string?)nbd["server"]!["type"]);
            Assert.Equal("127.0.0.2", (string?)nbd["server"]!["host"]);
            // QEMU's SocketAddress takes the port as a string.
            Assert.Equal("9999", (string?)nbd["server"]!["port"]);
        }

        [Fact]
        public void An_IPv6_secondary_is_bracketed_in_the_plain_URI_and_bare_in_the_TLS_target()
        {
            var c = ColoPlansTests.Config();
            c.SiteA.Address = "fd00::1";
            c.SiteB.Address = "fd00::2";
            Assert.Equal("nbd://[fd00::2]:9999/parent0", QemuTls.MirrorTarget(c, c.SiteB));
            c.Tls = WithTls().Tls;
            Assert.Equal("fd00::2", (string?)JsonNode.Parse(QemuTls.MirrorTarget(c, c.SiteB).Substring(5))!["file"]!["server"]!["host"]);
        }
    }
}
