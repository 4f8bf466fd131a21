using System;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Guard;
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
