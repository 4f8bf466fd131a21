using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Operations;
using ColoPS.Qemu;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo.Operations
{
    /// <summary>What the operations do with processes and files, driven through fakes of the host.</summary>
    public class HostSeamTests
    {
        private static ColoConfig Config() => ColoPlansTests.Config();

        [Fact]
        public void A_site_with_a_running_qemu_of_the_vm_is_refused_and_its_files_stay()
        {
            var fake = new FakeColoHost();
            var cfg = Config();
            fake.Alive.Add(77);
            fake.PidFiles[cfg.PidFileOf(ColoSite.A)] = 77;
            var ex = Assert.Throws<ColoException>(() => new NodeLauncher(fake.Host, new ColoTimeouts()).PrepareSite(cfg, ColoSite.A));
            Assert.Equal("ColoNodeAlreadyRunning", ex.ErrorId);
            Assert.Contains("pid 77", ex.Message);
            Assert.Empty(fake.Deleted);
        }

        [Fact]
        public async Task A_qemu_that_fails_to_start_leaves_no_runtime_file()
        {
            var fake = new FakeColoHost { Start = () => throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed, "QEMU exited with code 1 at start: bad option") };
            var cfg = Config();
            var ex = await Assert.ThrowsAsync<ColoException>(() => new NodeLauncher(fake.Host, new ColoTimeouts()).LaunchAsync(cfg, ColoSite.B, ColoRole.Secondary, Array.Empty<string>(), fake.Version, ColoAccelerator.Tcg, CancellationToken.None));
            Assert.Equal("QemuStartFailed", ex.ErrorId);
            Assert.Contains(cfg.QmpSocketOf(ColoSite.B), fake.Deleted);
            Assert.Contains(cfg.PidFileOf(ColoSite.B), fake.Deleted);
            Assert.Contains(cfg.ActiveOverlayOf(ColoSite.B), fake.Deleted);
        }

        [Fact]
        public async Task A_qemu_that_dies_before_its_monitor_answers_is_reported_with_its_logs_last_words()
        {
            var cfg = Config();
            var fake = new FakeColoHost { Start = () => 501 };
            fake.Logs[cfg.QemuLogOf(ColoSite.A)] = "2026-12-01T08:00:00Z qemu-system-x86_64: -chardev socket,id=mirror0: Address already in use";
            var ex = await Assert.ThrowsAsync<ColoException>(() => new NodeLauncher(fake.Host, new ColoTimeouts()).LaunchAsync(cfg, ColoSite.A, ColoRole.Primary, Array.Empty<string>(), fake.Version, ColoAccelerator.Tcg, CancellationToken.None));
            Assert.Equal("QemuStartFailed", ex.ErrorId);
            Assert.Contains("pid 501", ex.Message);
            Assert.Contains("Address already in use", ex.Message);
            Assert.IsType<QmpConnectException>(ex.InnerException);
            Assert.Empty(fake.Killed);
        }

        [Fact]
        public async Task A_live_qemu_whose_monitor_never_answers_is_killed_not_left_behind()
        {
            var cfg = Config();
            var fake = new FakeColoHost { Start = () => 502, Connect = () => throw new QmpGreetingException("No greeting within 60 s.") };
            fake.Alive.Add(502);
            await Assert.ThrowsAsync<QmpGreetingException>(() => new NodeLauncher(fake.Host, new ColoTimeouts()).LaunchAsync(cfg, ColoSite.A, ColoRole.Primary, Array.Empty<string>(), fake.Version, ColoAccelerator.Tcg, CancellationToken.None));
            Assert.Equal(new[] { 502 }, fake.Killed);
            Assert.Contains(cfg.PidFileOf(ColoSite.A), fake.Deleted);
        }

        [Fact]
        public async Task A_secondary_without_a_node_is_found_by_its_pid_file_and_killed()
        {
            var cfg = Config();
            var fake = new FakeColoHost();
            fake.Alive.Add(600);
            fake.PidFiles[cfg.PidFileOf(ColoSite.B)] = 600;
            fake.CommandLines[600] = "qemu -qmp unix:" + cfg.QmpSocketOf(ColoSite.B);
            var launcher = new NodeLauncher(fake.Host, new ColoTimeouts());
            var identity = launcher.IdentifySecondary(cfg, ColoSite.A, null);
            await launcher.DiscardSecondaryAsync(cfg, ColoSite.A, null, identity);
            Assert.Equal(new[] { 600 }, fake.Killed);
            Assert.Contains(cfg.HiddenOverlayOf(ColoSite.B), fake.Deleted);
        }

        // Same host, two guards: the resume failed while the peer's guard already replaced the
        // secondary it was for. The newer QEMU and its files are not the resume's to discard.
        [Theory]
        [InlineData("newer pid", 601, 600, 1L)]
        [InlineData("pid reused", 600, 600, 2L)]
        [InlineData("other command line", 600, 600, 1L)]
        public async Task A_secondary_replaced_since_the_operation_started_is_left_alone(string why, int pidNow, int pidThen, long startNow)
        {
            var cfg = Config();
            var fake = new FakeColoHost();
            fake.Alive.Add(pidThen);
            fake.PidFiles[cfg.PidFileOf(ColoSite.B)] = pidThen;
            fake.StartTimes[pidThen] = 1;
            var launcher = new NodeLauncher(fake.Host, new ColoTimeouts());
            var identity = launcher.IdentifySecondary(cfg, ColoSite.A, null);
            Assert.Equal(new ColoPS.Colo.Host.ProcessIdentity(pidThen, 1), identity);
            // Meanwhile: the old one is gone and the peer's guard started another (or the pid came back).
            fake.Alive.Remove(pidThen);
            fake.Alive.Add(pidNow);
            fake.PidFiles[cfg.PidFileOf(ColoSite.B)] = pidNow;
            fake.StartTimes[pidNow] = startNow;
            fake.CommandLines[pidNow] = why == "other command line" ? "qemu -qmp unix:/elsewhere.qmp" : "qemu -qmp unix:" + cfg.QmpSocketOf(ColoSite.B);
            await launcher.DiscardSecondaryAsync(cfg, ColoSite.A, null, identity);
            Assert.Empty(fake.Killed);
            Assert.DoesNotContain(cfg.PidFileOf(ColoSite.B), fake.Deleted);
            Assert.DoesNotContain(cfg.HiddenOverlayOf(ColoSite.B), fake.Deleted);
        }

        [Fact]
        public void A_real_process_start_time_is_stable_and_a_later_process_starts_later()
        {
            long? self = ColoPS.Qemu.ProcessProbe.StartTime(Environment.ProcessId);
            Assert.NotNull(self);
            Assert.Equal(self, ColoPS.Qemu.ProcessProbe.StartTime(Environment.ProcessId));
            using var child = System.Diagnostics.Process.Start("sleep", "5");
            try { Assert.True(ColoPS.Qemu.ProcessProbe.StartTime(child.Id) >= self); }
            finally { child.Kill(); child.WaitForExit(); }
            Assert.Null(ColoPS.Qemu.ProcessProbe.StartTime(child.Id));
        }

        [Fact]
        public async Task No_secondary_when_the_operation_started_means_none_is_discarded()
        {
            var cfg = Config();
            var fake = new FakeColoHost();
            var launcher = new NodeLauncher(fake.Host, new ColoTimeouts());
            var identity = launcher.IdentifySecondary(cfg, ColoSite.A, null);
            Assert.Null(identity);
            fake.Alive.Add(700);
            fake.PidFiles[cfg.PidFileOf(ColoSite.B)] = 700;
            await launcher.DiscardSecondaryAsync(cfg, ColoSite.A, null, identity);
            Assert.Empty(fake.Killed);
        }

        [Theory]
        // A frozen peer keeps its socket but never answers: it is not alive for a failover.
        [InlineData(true, true, false, "frozen (pid 700)")]
        [InlineData(false, false, false, "no process, no QMP socket")]
        [InlineData(true, false, false, "process 700 without a QMP socket")]
        public async Task The_peer_probe_reads_the_host_before_it_asks_qmp(bool alive, bool frozen, bool answers, string state)
        {
            var cfg = Config();
            var fake = new FakeColoHost();
            if (alive) { fake.Alive.Add(700); fake.PidFiles[cfg.PidFileOf(ColoSite.A)] = 700; }
            if (frozen) fake.Frozen.Add(700);
            var r = await new PeerProbe(fake.Host, new ColoTimeouts()).ProbeAsync(cfg, ColoSite.B, CancellationToken.None);
            Assert.Equal(answers, r.Answers);
            Assert.Equal(state, r.State);
        }

        [Fact]
        public async Task A_peer_whose_monitor_is_held_by_another_client_counts_as_alive()
        {
            var cfg = Config();
            var fake = new FakeColoHost { Connect = () => throw new QmpGreetingException("No greeting within 3 s.") };
            fake.Alive.Add(701);
            fake.PidFiles[cfg.PidFileOf(ColoSite.A)] = 701;
            fake.Files.Add(cfg.QmpSocketOf(ColoSite.A));
            var r = await new PeerProbe(fake.Host, new ColoTimeouts()).ProbeAsync(cfg, ColoSite.B, CancellationToken.None);
            Assert.True(r.Answers);
            Assert.Contains("held by another client", r.State);
        }

        public static IEnumerable<object[]> RemoteOutcomes() => new[]
        {
            // Refused or unreachable: nothing took the connection.
            new object[] { new QmpConnectException(QmpEndpoint.Tcp("192.0.2.2", 4444), "Cannot connect: Connection refused", null), false, "does not answer" },
            // Taken by the peer's kernel, then nothing: a monitor held by another client (or a frozen QEMU).
            new object[] { new QmpTlsException("The TLS handshake failed: no TLS handshake within 3 s", new OperationCanceledException()), true, "held by another client" },
            new object[] { new QmpGreetingException("No QMP greeting within 3 s."), true, "held by another client" },
            // A TLS verdict on our certificate: something there runs.
            new object[] { new QmpTlsException("The TLS handshake failed: certificate refused", new System.Security.Authentication.AuthenticationException()), true, "refused the TLS session" },
        };

        [Theory]
        [MemberData(nameof(RemoteOutcomes))]
        public async Task A_remote_peer_counts_as_gone_only_when_nothing_took_the_connection(QmpException failure, bool answers, string words)
        {
            var (cfg, tls) = RemotePair();
            var fake = new FakeColoHost { Connect = () => throw failure };
            var r = await new PeerProbe(fake.Host, new ColoTimeouts()).ProbeRemoteAsync(cfg, ColoSite.B, tls, CancellationToken.None);
            Assert.Equal(answers, r.Answers);
            Assert.Contains(words, r.State);
        }

        [Theory] // a session held to the peer that no longer answers (its host died, or was cut off): a new connection decides
        [InlineData(false)]
        [InlineData(true)]
        public async Task A_held_session_that_fails_leaves_the_answer_to_a_new_connection(bool newConnectionTaken)
        {
            var (cfg, tls) = RemotePair();
            using var h = await QmpHarness.StartAsync(tcp: true); // the fake monitor never answers query-status
            var fake = new FakeColoHost
            {
                Held = h.Session,
                Connect = newConnectionTaken
                    ? () => throw new QmpGreetingException("No QMP greeting within 3 s.")
                    : () => throw new QmpConnectException(QmpEndpoint.Tcp("192.0.2.2", 4444), "Cannot connect: timed out", null),
            };
            var r = await new PeerProbe(fake.Host, new ColoTimeouts { PeerProbe = TimeSpan.FromMilliseconds(300) }).ProbeRemoteAsync(cfg, ColoSite.B, tls, CancellationToken.None);
            Assert.Equal(newConnectionTaken, r.Answers);
            Assert.Contains("the session held to it failed", r.State);
            Assert.Contains(newConnectionTaken ? "held by another client" : "does not answer", r.State);
        }

        private static (ColoConfig, QmpTlsOptions) RemotePair()
        {
            var cfg = Config();
            cfg.SiteA.Management = new ColoManagementConfig { Address = cfg.SiteA.Address, Port = 4444 };
            cfg.SiteB.Management = new ColoManagementConfig { Address = cfg.SiteB.Address, Port = 4444 };
            using var key = System.Security.Cryptography.ECDsa.Create();
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=operator", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            return (cfg, new QmpTlsOptions(cert, new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(cert)));
        }

        [Fact]
        public async Task A_peer_socket_that_refuses_is_not_alive()
        {
            var cfg = Config();
            var fake = new FakeColoHost();
            fake.Files.Add(cfg.QmpSocketOf(ColoSite.A));
            var r = await new PeerProbe(fake.Host, new ColoTimeouts()).ProbeAsync(cfg, ColoSite.B, CancellationToken.None);
            Assert.False(r.Answers);
            Assert.StartsWith("it does not answer: ", r.State);
        }

        [Fact]
        public void A_qemu_that_did_not_take_the_quit_gets_only_a_short_grace()
        {
            var stop = new StopOperation(new FakeColoHost().Host, new ColoTimeouts { UnresponsiveGrace = TimeSpan.FromMilliseconds(500) }, null);
            Assert.Equal(TimeSpan.FromSeconds(15), stop.ExitWait(quitTaken: true, TimeSpan.FromSeconds(15)));
            Assert.Equal(TimeSpan.FromMilliseconds(500), stop.ExitWait(quitTaken: false, TimeSpan.FromSeconds(15)));
            Assert.Equal(TimeSpan.FromMilliseconds(200), stop.ExitWait(quitTaken: false, TimeSpan.FromMilliseconds(200)));
        }
    }
}
