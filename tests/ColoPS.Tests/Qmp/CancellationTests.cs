using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Cancellation, command timeouts and Dispose while commands are in flight, with and without OOB.</summary>
    public class CancellationTests
    {
        private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(200);

        private static async Task<JsonElement> RoundTrip(QmpHarness h, string command, QmpCallOptions? call = null)
        {
            var task = h.Session.ExecuteAsync(command, null, call);
            var cmd = await h.Qemu.ReadCommandAsync();
            Assert.Equal(command, cmd.Name);
            await h.Qemu.ReplyAsync(cmd, command);
            return await task.Within();
        }

        [Fact] // a token cancelled before the write: nothing reaches QEMU, nothing stays pending
        public async Task CancelBeforeWrite_SendsNothing()
        {
            using var h = await QmpHarness.StartAsync();
            using var cts = new CancellationTokenSource();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => h.Session.ExecuteAsync("stop", null, cts.Token).Within());
            Assert.Equal(0, h.Session.PendingCommandCount);
            Assert.Equal("query-after", (await RoundTrip(h, "query-after")).GetString()); // the first thing QEMU reads is the next command
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Fact] // cancelled in the instant between taking the write lock and writing: nothing sent, and the session is not torn down for it
        public async Task CancelJustBeforeTheWrite_SendsNothingAndKeepsTheSession()
        {
            using var h = await QmpHarness.StartAsync();
            using var cts = new CancellationTokenSource();
            Task<System.Text.Json.JsonElement> task;
            // The observer runs after the last cancellation check and before the write: the latest a token can fire unsent.
            using (QmpCommandObserver.Use(new CancellingObserver(cts)))
            {
                task = h.Session.ExecuteAsync("stop", null, cts.Token);
            }
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.Within());
            Assert.Equal(QmpSessionState.Running, h.Session.State);
            Assert.Equal(0, h.Session.PendingCommandCount);
            Assert.Equal("query-after", (await RoundTrip(h, "query-after")).GetString()); // "stop" never reached QEMU
        }

        private sealed class CancellingObserver : IQmpCommandObserver
        {
            private readonly CancellationTokenSource _cts;
            public CancellingObserver(CancellationTokenSource cts) => _cts = cts;
            public void OnSend(QmpSession session, string command, string json) => _cts.Cancel();
            public void OnReceive(QmpSession session, string command, string json) { }
        }

        [Fact] // cancelled while waiting for an in-band slot (OOB on, slots full): nothing sent
        public async Task CancelWhileWaitingForAnInBandSlot_SendsNothing()
        {
            using var h = await QmpHarness.StartAsync(oob: true, options: new QmpSessionOptions { MaxInBandInFlight = 2 });
            var a = h.Session.ExecuteAsync("cmd-a");
            var b = h.Session.ExecuteAsync("cmd-b");
            var ca = await h.Qemu.ReadCommandAsync();
            var cb = await h.Qemu.ReadCommandAsync();
            using var cts = new CancellationTokenSource();
            var c = h.Session.ExecuteAsync("cmd-c", null, cts.Token);
            Assert.False(c.IsCompleted);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => c.Within());
            await h.Qemu.ReplyAsync(ca);
            await h.Qemu.ReplyAsync(cb);
            await Task.WhenAll(a, b).Within();
            Assert.Equal("cmd-d", (await RoundTrip(h, "cmd-d")).GetString()); // cmd-c never went out
            Assert.Equal(0, h.Session.LateReplyCount);
        }

        [Fact] // cancelled after the write: the late reply is dropped by id and counted; the next command is unaffected
        public async Task CancelAfterWrite_LateReplyIsDroppedByIdAndNextCommandIsFine()
        {
            using var h = await QmpHarness.StartAsync();
            using var cts = new CancellationTokenSource();
            var call = h.Session.ExecuteAsync("query-slow", null, cts.Token);
            var cmd = await h.Qemu.ReadCommandAsync();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.Within());

            await h.Qemu.ReplyAsync(cmd, "late");
            Assert.Equal("query-next", (await RoundTrip(h, "query-next")).GetString());
            Assert.Equal(1, h.Session.LateReplyCount);
            Assert.Equal(0, h.Session.UnknownReplyCount);
            Assert.Equal(0, h.Session.PendingCommandCount);
        }

        [Fact] // per-call timeout → QmpTimeoutException; the late reply is then dropped
        public async Task PerCallTimeout_ThrowsAndTheLateReplyIsDropped()
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteAsync("query-slow", null, new QmpCallOptions { Timeout = Short });
            var cmd = await h.Qemu.ReadCommandAsync();
            var ex = await Assert.ThrowsAsync<QmpTimeoutException>(() => call.Within());
            Assert.Equal(Short, ex.Timeout);
            Assert.Contains("query-slow", ex.Message);

            await h.Qemu.ReplyAsync(cmd, "late");
            Assert.Equal("query-next", (await RoundTrip(h, "query-next")).GetString());
            Assert.Equal(1, h.Session.LateReplyCount);
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Fact] // the session's CommandTimeout applies when the call sets none
        public async Task SessionDefaultTimeout_Applies()
        {
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { CommandTimeout = Short });
            var call = h.Session.ExecuteAsync("query-slow");
            await h.Qemu.ReadCommandAsync();
            Assert.Equal(Short, (await Assert.ThrowsAsync<QmpTimeoutException>(() => call.Within())).Timeout);
        }

        [Fact] // an in-band command times out while OOB is on: yank via exec-oob still gets through, the late in-band reply is dropped
        public async Task InBandTimeoutWithOob_ExecOobStillAnswered()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var stuck = h.Session.ExecuteAsync("x-colo-lost-heartbeat", null, new QmpCallOptions { Timeout = Short });
            var stuckCmd = await h.Qemu.ReadCommandAsync();
            await Assert.ThrowsAsync<QmpTimeoutException>(() => stuck.Within());

            var yank = h.Session.ExecuteAsync("yank", new JsonObject { ["instances"] = new JsonArray(new JsonObject { ["type"] = "migration" }) },
                new QmpCallOptions { OutOfBand = true, Timeout = TimeSpan.FromSeconds(5) });
            var yankCmd = await h.Qemu.ReadCommandAsync();
            Assert.True(yankCmd.Oob);
            Assert.Equal("yank", yankCmd.Name);
            Assert.NotNull(yankCmd.IdJson);
            await h.Qemu.ReplyAsync(yankCmd);
            await yank.Within();

            await h.Qemu.ReplyAsync(stuckCmd, "late");
            Assert.Equal("query-status", (await RoundTrip(h, "query-status")).GetString());
            Assert.Equal(1, h.Session.LateReplyCount);
        }

        [Fact] // timed-out in-band commands keep their slots until QEMU answers; exec-oob is never blocked by them
        public async Task TimedOutInBandCommandsKeepTheirSlots_ExecOobStillWorks()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var slow = Enumerable.Range(0, 8).Select(i => h.Session.ExecuteAsync("slow-" + i, null, new QmpCallOptions { Timeout = Short })).ToArray();
            var slowCmds = new List<FakeCommand>();
            for (int i = 0; i < 8; i++) slowCmds.Add(await h.Qemu.ReadCommandAsync());
            foreach (var t in slow) await Assert.ThrowsAsync<QmpTimeoutException>(() => t.Within());

            var ninth = await Assert.ThrowsAsync<QmpTimeoutException>(() => h.Session.ExecuteAsync("ninth", null, new QmpCallOptions { Timeout = Short }).Within());
            Assert.Contains("in-band slot", ninth.Message);

            var query = h.Session.ExecuteAsync("query-yank", null, new QmpCallOptions { OutOfBand = true });
            var qc = await h.Qemu.ReadCommandAsync();
            Assert.Equal("query-yank", qc.Name); // "ninth" never went out
            await h.Qemu.ReplyAsync(qc, new JsonArray());
            Assert.Equal(JsonValueKind.Array, (await query.Within()).ValueKind);

            await h.Qemu.ReplyAsync(slowCmds[3], "late"); // frees one slot
            Assert.Equal("tenth", (await RoundTrip(h, "tenth")).GetString());
            Assert.Equal(1, h.Session.LateReplyCount);
        }

        [Fact] // exec-oob of a command without allow-oob: QEMU's error is surfaced, no hang
        public async Task ExecOobOfANonOobCommand_SurfacesTheError()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var call = h.Session.ExecuteAsync("query-cpus-fast", null, new QmpCallOptions { OutOfBand = true });
            var cmd = await h.Qemu.ReadCommandAsync();
            Assert.True(cmd.Oob);
            await h.Qemu.ReplyErrorAsync(cmd, "GenericError", "The command query-cpus-fast does not support OOB");
            var ex = await Assert.ThrowsAsync<QmpCommandException>(() => call.Within());
            Assert.Contains("does not support OOB", ex.Description);
        }

        [Fact] // Dispose with calls pending: they fail with QmpDisconnectedException; State is Closed; the socket is closed
        public async Task DisposeWithPendingCalls_FailsThemAndCloses()
        {
            using var h = await QmpHarness.StartAsync();
            var raised = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            h.Session.Disconnected += (s, e) => raised.TrySetResult(true);
            var calls = Enumerable.Range(0, 3).Select(i => h.Session.ExecuteAsync("query-" + i)).ToArray();
            for (int i = 0; i < 3; i++) await h.Qemu.ReadCommandAsync();

            h.Session.Dispose();
            foreach (var c in calls)
            {
                var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => c.Within());
                Assert.Contains("closed", ex.Message);
            }
            Assert.Equal(QmpSessionState.Closed, h.Session.State);
            Assert.Null(h.Session.Fault);
            await raised.Task.Within();
            Assert.True(await h.Qemu.WaitForClientCloseAsync());
            var later = h.Session.ExecuteAsync("query-status");
            Assert.True(later.IsCompleted);
            await Assert.ThrowsAsync<QmpDisconnectedException>(() => later);
            h.Session.Dispose(); // idempotent
        }

        [Theory] // a caller queued behind full in-band slots also fails at once when the session ends (no wait for its timeout)
        [InlineData(true)]
        [InlineData(false)]
        public async Task CallerWaitingForASlot_FailsAtOnceWhenTheSessionEnds(bool dispose)
        {
            using var h = await QmpHarness.StartAsync(oob: true, options: new QmpSessionOptions { MaxInBandInFlight = 2, CommandTimeout = TimeSpan.FromSeconds(60) });
            var a = h.Session.ExecuteAsync("cmd-a");
            var b = h.Session.ExecuteAsync("cmd-b");
            await h.Qemu.ReadCommandAsync();
            await h.Qemu.ReadCommandAsync();
            var queued = h.Session.ExecuteAsync("cmd-queued");
            Assert.False(queued.IsCompleted);

            if (dispose) h.Session.Dispose();
            else h.Qemu.Close();

            foreach (var t in new[] { a, b, queued }) await Assert.ThrowsAsync<QmpDisconnectedException>(() => t.Within());
            Assert.Equal(dispose ? QmpSessionState.Closed : QmpSessionState.Broken, h.Session.State);
        }
    }
}
