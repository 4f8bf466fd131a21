using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>End of stream and transport faults: EOF at each stage of the handshake and of a reply, write failures, refused or stuck connections.</summary>
    public class TransportTests
    {
        private static readonly QmpSessionOptions ShortConnect = new QmpSessionOptions { ConnectTimeout = TimeSpan.FromMilliseconds(500) };

        [Fact] // QEMU closes the connection before sending any greeting
        public async Task EofBeforeGreeting_IsAGreetingError()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            var qemu = await server.AcceptAsync();
            qemu.Close();
            var ex = await Assert.ThrowsAsync<QmpGreetingException>(() => connecting.Within());
            Assert.Contains("ended before a complete QMP greeting", ex.Message);
            Assert.IsType<QmpDisconnectedException>(ex.InnerException);
        }

        [Fact] // QEMU closes the connection halfway through its greeting
        public async Task EofMidGreeting_IsAGreetingErrorNamingThePartialMessage()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            var qemu = await server.AcceptAsync();
            await qemu.SendAsync(FakeQmpConnection.Qemu72Greeting.Substring(0, 40));
            qemu.Close();
            var ex = await Assert.ThrowsAsync<QmpGreetingException>(() => connecting.Within());
            var eof = Assert.IsType<EndOfStreamException>(ex.InnerException!.InnerException);
            Assert.Contains("middle of a message (40 bytes", eof.Message);
        }

        [Fact] // QEMU closes the connection after its greeting, before answering qmp_capabilities
        public async Task EofAfterGreetingBeforeCapabilitiesReply_IsANegotiationError()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            var qemu = await server.AcceptAsync();
            await qemu.SendGreetingAsync();
            var caps = await qemu.ReadCommandAsync();
            Assert.Equal("qmp_capabilities", caps.Name);
            qemu.Close();
            var ex = await Assert.ThrowsAsync<QmpNegotiationException>(() => connecting.Within());
            Assert.IsType<QmpDisconnectedException>(ex.InnerException);
        }

        [Fact] // EOF in the middle of a reply with several commands pending: all fail at once, with the cause
        public async Task EofMidReply_FailsEveryPendingCommandWithTheCause()
        {
            using var h = await QmpHarness.StartAsync();
            var calls = Enumerable.Range(0, 4).Select(i => h.Session.ExecuteAsync("query-" + i)).ToArray();
            var first = await h.Qemu.ReadCommandAsync();
            for (int i = 1; i < calls.Length; i++) await h.Qemu.ReadCommandAsync();
            string reply = FakeQmpConnection.ReturnJson(first, new JsonObject { ["big"] = "value" });
            await h.Qemu.SendAsync(reply.Substring(0, reply.Length / 2));
            h.Qemu.Close();

            foreach (var call in calls)
            {
                var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
                Assert.IsType<EndOfStreamException>(ex.InnerException);
                Assert.Contains("lost", ex.Message);
            }
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
            Assert.IsType<EndOfStreamException>(h.Session.Fault);
            Assert.Equal(0, h.Session.PendingCommandCount);
        }

        [Fact] // EOF while idle: Broken, Disconnected raised once, event waiters and subscribers end, later calls fail fast
        public async Task EofWhileIdle_BreaksTheSessionRaisesDisconnectedAndLaterCallsFailFast()
        {
            using var h = await QmpHarness.StartAsync();
            int raised = 0;
            var disconnected = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            h.Session.Disconnected += (s, e) => { Interlocked.Increment(ref raised); disconnected.TrySetResult(true); };
            var waiter = h.Session.WaitForEventAsync(new[] { "SHUTDOWN" }, h.Session.LastEventSequence, TimeSpan.FromSeconds(30));
            var feed = h.Session.SubscribeEvents(null, 16, out var sub);

            h.Qemu.Close();
            await disconnected.Task.Within();

            Assert.Equal(QmpSessionState.Broken, h.Session.State);
            Assert.IsType<EndOfStreamException>(h.Session.Fault);
            await Assert.ThrowsAsync<QmpDisconnectedException>(() => waiter.Within());
            await Assert.ThrowsAsync<QmpDisconnectedException>(() => feed.Completion.Within());

            var later = h.Session.ExecuteAsync("query-status");
            Assert.True(later.IsCompleted, "a call on a broken session must fail at once, not wait for a timeout");
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => later);
            Assert.Same(h.Session.Fault, ex.InnerException);
            h.Session.Dispose();
            Assert.Equal(QmpSessionState.Broken, h.Session.State); // a broken session stays Broken
            Assert.Equal(1, Volatile.Read(ref raised));
            sub.Dispose();
        }

        [Fact] // every wait honours the caller's token: cancelling ConnectAsync while it waits for the greeting closes the socket
        public async Task ConnectCancelledWhileWaitingForGreeting_ThrowsAndClosesTheSocket()
        {
            using var server = new FakeQmpServer();
            using var cts = new CancellationTokenSource();
            var connecting = QmpSession.ConnectAsync(server.Endpoint, null, cts.Token);
            using var qemu = await server.AcceptAsync();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.Within());
            Assert.True(await qemu.WaitForClientCloseAsync());
        }

        [Fact] // the write fails (EPIPE: QEMU shut its reading side) → Broken, typed error with the socket cause
        public async Task WriteFailure_BreaksTheSessionWithTheSocketCause()
        {
            using var h = await QmpHarness.StartAsync();
            h.Qemu.Socket.Shutdown(SocketShutdown.Receive);
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => h.Session.ExecuteAsync("query-status").Within());
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
            Assert.True(h.Session.Fault is IOException || h.Session.Fault is SocketException, h.Session.Fault?.ToString());
            Assert.Same(h.Session.Fault, ex.InnerException);
        }

        [Fact] // a TCP reset while a command is pending
        public async Task TcpReset_FailsThePendingCommand()
        {
            using var h = await QmpHarness.StartAsync(tcp: true);
            Assert.Equal(QmpTransport.Tcp, h.Session.Endpoint.Transport);
            var call = h.Session.ExecuteAsync("query-status");
            await h.Qemu.ReadCommandAsync();
            h.Qemu.Abort();
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
            Assert.NotNull(ex.InnerException);
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
        }

        [Fact] // socket file present, nobody listening → ECONNREFUSED
        public async Task ConnectionRefused_Unix_IsAConnectError()
        {
            using var server = new FakeQmpServer();
            server.StopListening(keepSocketFile: true);
            var ex = await Assert.ThrowsAsync<QmpConnectException>(() => QmpSession.ConnectAsync(server.Endpoint).Within());
            var inner = Assert.IsType<SocketException>(ex.InnerException);
            Assert.Equal(SocketError.ConnectionRefused, inner.SocketErrorCode);
            Assert.Equal(server.Endpoint.Path, ex.Endpoint.Path);
        }

        [Fact] // TCP port with nobody listening
        public async Task ConnectionRefused_Tcp_IsAConnectError()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var ex = await Assert.ThrowsAsync<QmpConnectException>(() => QmpSession.ConnectAsync(QmpEndpoint.Tcp("127.0.0.1", port)).Within());
            Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(ex.InnerException).SocketErrorCode);
        }

        [Fact] // no socket file at the given path
        public async Task MissingSocketPath_IsAConnectError()
        {
            using var server = new FakeQmpServer();
            var ex = await Assert.ThrowsAsync<QmpConnectException>(() =>
                QmpSession.ConnectAsync(QmpEndpoint.Unix(Path.Combine(server.SocketDirectory, "no-such.sock"))).Within());
            Assert.IsType<SocketException>(ex.InnerException);
        }

        [Fact] // a unix socket path longer than sun_path (108 bytes with the NUL)
        public async Task SocketPathTooLong_IsAConnectError()
        {
            string path = "/tmp/" + new string('p', 120) + ".sock";
            var ex = await Assert.ThrowsAsync<QmpConnectException>(() => QmpSession.ConnectAsync(QmpEndpoint.Unix(path)).Within());
            Assert.Contains("107 bytes", ex.Message);
        }

        [Fact] // a unix listener whose backlog is full (QEMU busy with another client) refuses at once (EAGAIN), no hang
        public async Task FullBacklog_FailsPromptlyWithAConnectError()
        {
            using var server = new FakeQmpServer(backlog: 1);
            var fillers = new System.Collections.Generic.List<Socket>();
            try
            {
                SocketException? refused = null;
                for (int i = 0; i < 8 && refused == null; i++)
                {
                    var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    fillers.Add(s);
                    try { await s.ConnectAsync(new UnixDomainSocketEndPoint(server.SocketPath)).Within(); }
                    catch (SocketException ex) { refused = ex; }
                }
                Assert.NotNull(refused); // the backlog is full now
                var clock = Stopwatch.StartNew();
                var ex2 = await Assert.ThrowsAsync<QmpConnectException>(() => QmpSession.ConnectAsync(server.Endpoint, ShortConnect).Within());
                Assert.IsType<SocketException>(ex2.InnerException);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
            }
            finally
            {
                foreach (var s in fillers) s.Dispose();
            }
        }

        [Fact] // QEMU stops reading, a large command's write stalls: the call fails within its timeout, the session is Broken
        public async Task StalledWrite_FailsWithinTheTimeoutAndBreaksTheSession()
        {
            using var h = await QmpHarness.StartAsync();
            var clock = Stopwatch.StartNew();
            var big = new JsonObject { ["command-line"] = new string('a', 8 * 1024 * 1024) };
            var ex = await Assert.ThrowsAnyAsync<QmpException>(() =>
                h.Session.ExecuteAsync("human-monitor-command", big, new QmpCallOptions { Timeout = TimeSpan.FromMilliseconds(300) }).Within());
            Assert.True(ex is QmpDisconnectedException || ex is QmpTimeoutException, ex.ToString());
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
            Assert.Equal(QmpSessionState.Broken, h.Session.State); // half a command is in QEMU's parser: the stream is unusable
            await Assert.ThrowsAsync<QmpDisconnectedException>(() => h.Session.ExecuteAsync("query-status").Within());
        }

        [Fact] // Ctrl+C during a write that stays stuck: the caller is cancelled at once, and the session breaks once the write is still stuck after the grace
        public async Task StalledWrite_Cancelled_CancelsAtOnceAndBreaksTheSession()
        {
            using var h = await QmpHarness.StartAsync();
            using var cts = new System.Threading.CancellationTokenSource();
            var big = new JsonObject { ["command-line"] = new string('a', 8 * 1024 * 1024) };
            var call = Task.Run(() => h.Session.ExecuteAsync("human-monitor-command", big, null, cts.Token));
            await Task.Delay(200);
            var clock = Stopwatch.StartNew();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.Within());
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));
            for (int i = 0; i < 100 && h.Session.State != QmpSessionState.Broken; i++) await Task.Delay(20);
            Assert.Equal(QmpSessionState.Broken, h.Session.State); // half a command is in QEMU's parser
        }

        [Theory] // a listener that never accepts (the kernel queues the connection) or accepts but never greets
        [InlineData("unix-never-accepts")]
        [InlineData("tcp-never-accepts")]
        [InlineData("unix-accepts-never-greets")]
        public async Task SilentListener_TimesOutWithinTheConnectTimeout(string mode)
        {
            using var server = new FakeQmpServer(tcp: mode.StartsWith("tcp"));
            var clock = Stopwatch.StartNew();
            var connecting = QmpSession.ConnectAsync(mode.StartsWith("tcp") ? server.TcpEndpoint : server.Endpoint, ShortConnect);
            if (mode.EndsWith("never-greets")) await server.AcceptAsync();
            var ex = await Assert.ThrowsAnyAsync<QmpException>(() => connecting.Within());
            clock.Stop();
            Assert.True(ex is QmpGreetingException || ex is QmpConnectException, ex.ToString());
            Assert.Contains("0.5 s", ex.Message);
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        }
    }
}
