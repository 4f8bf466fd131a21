using System;
using System.Net;
using System.Net.Sockets;
using System.IO;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Guard;
using ColoPS.Tls;
using Xunit;

namespace ColoPS.Tests.Guard
{
    /// <summary>The guards' heartbeat on loopback (127.0.0.1 for A, 127.0.0.2 for B), real sockets and real time.</summary>
    public sealed class GuardHeartbeatTests
    {
        private static ColoConfig Config(int port) => new()
        {
            Name = "hb",
            SiteA = new ColoSiteConfig { Address = "127.0.0.1", WorkDirectory = "/nonexistent/hb-a" },
            SiteB = new ColoSiteConfig { Address = "127.0.0.2", WorkDirectory = "/nonexistent/hb-b" },
            Witness = new ColoWitnessConfig { Endpoints = new[] { "http://127.0.0.3:2379" }, HeartbeatPort = port },
        };

        private static int FreePort()
        {
            using var u = new UdpClient(new IPEndPoint(IPAddress.Parse("127.0.0.1"), 0));
            return ((IPEndPoint)u.Client.LocalEndPoint!).Port;
        }

        private static async Task<PeerObservation> WaitFor(GuardHeartbeat h, PeerObservation want, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            var seen = h.Read().Peer;
            while (seen != want && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
                seen = h.Read().Peer;
            }
            return seen;
        }

        [Fact]
        public async Task Peers_HearEachOther_ThenSilence_ReadsSilent()
        {
            var cfg = Config(FreePort());
            await using var a = GuardHeartbeat.Start(cfg, ColoSite.A, TimeProvider.System)!;
            var b = GuardHeartbeat.Start(cfg, ColoSite.B, TimeProvider.System)!;
            try
            {
                // Nothing is said before the guard's first look.
                Assert.Equal(PeerObservation.Unknown, a.Read().Peer);
                a.Report(OwnObservation.ProtectedPrimary);
                b.Report(OwnObservation.ProtectedSecondary);
                Assert.Equal(PeerObservation.Answers, await WaitFor(a, PeerObservation.Answers, TimeSpan.FromSeconds(3)));
                Assert.Equal(PeerObservation.Answers, await WaitFor(b, PeerObservation.Answers, TimeSpan.FromSeconds(3)));
                Assert.Contains("ProtectedSecondary", a.Read().Detail);
                b.Report(OwnObservation.QemuDead);
                Assert.Equal(PeerObservation.Silent, await WaitFor(a, PeerObservation.Silent, TimeSpan.FromSeconds(3)));
                b.Report(OwnObservation.ProtectedSecondary);
                Assert.Equal(PeerObservation.Answers, await WaitFor(a, PeerObservation.Answers, TimeSpan.FromSeconds(3)));
            }
            finally { await b.CloseAsync(notify: false); }
            // B is gone without a word, as a lost site: silent once the window has passed, not before.
            Assert.Equal(PeerObservation.Answers, a.Read().Peer);
            Assert.Equal(PeerObservation.Silent, await WaitFor(a, PeerObservation.Silent, a.Window + TimeSpan.FromSeconds(2)));
        }

        [Fact]
        public async Task APeerNeverHeard_IsUnknownWithinTheGrace_ThenNeverHeard()
        {
            // A guard (re)started while the link is cut: nobody ever answers its datagrams.
            var cfg = Config(FreePort());
            await using var a = GuardHeartbeat.Start(cfg, ColoSite.A, TimeProvider.System)!;
            await Task.Delay(a.Grace + a.Window);
            Assert.Equal(PeerObservation.Unknown, a.Read().Peer); // nothing sent before the first look: no grace runs
            a.Report(OwnObservation.ProtectedPrimary);
            await Task.Delay(a.Interval * 2);
            Assert.Equal(PeerObservation.Unknown, a.Read().Peer);
            Assert.Equal(PeerObservation.NeverHeard, await WaitFor(a, PeerObservation.NeverHeard, a.Grace + TimeSpan.FromSeconds(2)));
            Assert.Contains("since this guard started", a.Read().Detail);
        }

        [Fact]
        public async Task AGuardThatStops_SaysSo_AndItsSilenceIsNotACut()
        {
            var cfg = Config(FreePort());
            await using var a = GuardHeartbeat.Start(cfg, ColoSite.A, TimeProvider.System)!;
            a.Report(OwnObservation.ProtectedPrimary);
            await using (var b = GuardHeartbeat.Start(cfg, ColoSite.B, TimeProvider.System)!)
            {
                b.Report(OwnObservation.ProtectedSecondary);
                Assert.Equal(PeerObservation.Answers, await WaitFor(a, PeerObservation.Answers, TimeSpan.FromSeconds(3)));
            }
            Assert.Equal(PeerObservation.Unknown, await WaitFor(a, PeerObservation.Unknown, TimeSpan.FromSeconds(2)));
            await Task.Delay(a.Window + TimeSpan.FromMilliseconds(300));
            Assert.Equal(PeerObservation.Unknown, a.Read().Peer);
        }

        [Fact]
        public async Task ADatagramThatDoesNotEchoThisGuard_IsNotHeard()
        {
            int port = FreePort();
            var cfg = Config(port);
            await using var a = GuardHeartbeat.Start(cfg, ColoSite.A, TimeProvider.System)!;
            a.Report(OwnObservation.ProtectedPrimary);
            // A well-formed beat from B's address, as a replay recorded before A started would be.
            using var forger = new UdpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
            var payload = Encoding.UTF8.GetBytes("{\"Pair\":\"hb\",\"Site\":\"B\",\"Boot\":\"old\",\"Seq\":7,\"Echo\":\"someone-else\",\"Own\":\"QemuDead\",\"Stopping\":false}");
            var d = new byte[6 + payload.Length];
            d[0] = (byte)(payload.Length >> 8); d[1] = (byte)payload.Length;
            payload.CopyTo(d, 2);
            for (int i = 0; i < 5; i++) { await forger.SendAsync(d, new IPEndPoint(IPAddress.Parse("127.0.0.1"), port)); await Task.Delay(50); }
            await Task.Delay(200);
            Assert.Equal(PeerObservation.Unknown, a.Read().Peer);
        }

        [Fact]
        public async Task WithTls_SignedBeatsAreHeard_AndAPeerWithoutTheSiteCertificateIsNot()
        {
            var dir = Path.Combine(Path.GetTempPath(), "colops-hb-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            try
            {
                var cfg = Config(FreePort());
                cfg.Tls = await ColoCertificateMaker.CreateAsync(cfg, dir, 2, false, "openssl", CancellationToken.None);
                await using (var a = GuardHeartbeat.Start(cfg, ColoSite.A, TimeProvider.System)!)
                await using (var b = GuardHeartbeat.Start(cfg, ColoSite.B, TimeProvider.System)!)
                {
                    a.Report(OwnObservation.ProtectedPrimary);
                    b.Report(OwnObservation.ProtectedSecondary);
                    Assert.True(await WaitFor(a, PeerObservation.Answers, TimeSpan.FromSeconds(3)) == PeerObservation.Answers, a.Read().Detail);
                    Assert.True(await WaitFor(b, PeerObservation.Answers, TimeSpan.FromSeconds(3)) == PeerObservation.Answers, b.Read().Detail);
                }
                // The same beats unsigned (a B without the pair's certificates): A, which has them, hears nothing.
                var port = FreePort();
                var signed = Config(port);
                signed.Tls = cfg.Tls;
                await using var a2 = GuardHeartbeat.Start(signed, ColoSite.A, TimeProvider.System)!;
                await using var b2 = GuardHeartbeat.Start(Config(port), ColoSite.B, TimeProvider.System)!;
                a2.Report(OwnObservation.ProtectedPrimary);
                b2.Report(OwnObservation.QemuDead);
                // B2 sends every Interval all along; its "QEMU gone" must not reach A2's model.
                await Task.Delay(a2.Window * 2);
                Assert.Equal(PeerObservation.Unknown, a2.Read().Peer);
                Assert.Equal(PeerObservation.Unknown, b2.Read().Peer); // nor does A2 learn B2's boot id to echo
            }
            finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        }

        [Fact]
        public void NoPort_NoHeartbeat_AndABusyPortIsATypedError()
        {
            var cfg = Config(FreePort());
            cfg.Witness!.HeartbeatPort = null;
            Assert.Null(GuardHeartbeat.Start(cfg, ColoSite.A, TimeProvider.System));
            int port = FreePort();
            using var taken = new UdpClient(new IPEndPoint(IPAddress.Parse("127.0.0.1"), port));
            var e = Assert.Throws<ColoException>(() => GuardHeartbeat.Start(Config(port), ColoSite.A, TimeProvider.System));
            Assert.Equal("ColoGuardHeartbeatBind", e.ErrorId);
        }
    }
}
