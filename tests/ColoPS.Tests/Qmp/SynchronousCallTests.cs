using System;
using System.Diagnostics;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>
    /// Execute, the synchronous call whose caller reads its own reply: the same outcomes as
    /// ExecuteAsync, and the reader thread still reads for everyone else.
    /// </summary>
    public class SynchronousCallTests
    {
        private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

        // Run a blocking call off the test's thread, bounded like every await in these tests.
        private static Task<T> OffThread<T>(Func<T> call) => Task.Factory.StartNew(call, TaskCreationOptions.LongRunning).Within();

        [Fact] // events QEMU sends before the reply are read by the caller, kept in order, and the reply is the call's
        public async Task Execute_ReadsEventsBeforeItsReply_InOrder()
        {
            using var h = await QmpHarness.StartAsync();
            long mark = h.Session.LastEventSequence;
            var call = OffThread(() => h.Session.Execute("stop"));
            var cmd = await h.Qemu.ReadCommandAsync().Within();
            await h.Qemu.SendAsync(FakeQmpConnection.EventJson("STOP") + "\r\n" + FakeQmpConnection.EventJson("X-ONE") + "\r\n"
                + FakeQmpConnection.ReturnJson(cmd, new JsonObject { ["done"] = true }) + "\r\n");
            var reply = await call;
            Assert.True(reply.GetProperty("done").GetBoolean());
            Assert.Equal(new[] { "STOP", "X-ONE" }, h.Session.GetEvents(mark).Select(e => e.Name).ToArray());
        }

        [Fact] // after a synchronous call, an event that comes while nobody calls still reaches a waiter (the reader thread reads again)
        public async Task AfterExecute_IdleEvents_AreDelivered()
        {
            using var h = await QmpHarness.StartAsync();
            var call = OffThread(() => h.Session.Execute("query-status"));
            await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync().Within(), new JsonObject());
            await call;
            long mark = h.Session.LastEventSequence;
            var wait = h.Session.WaitForEventAsync(new[] { "RESUME" }, mark, TimeSpan.FromSeconds(5));
            await h.Qemu.SendEventAsync("RESUME");
            Assert.Equal("RESUME", (await wait.Within()).Name);
        }

        [Fact] // synchronous and asynchronous callers at once, replies in any order: nobody gets another's reply
        public async Task SyncAndAsyncCallers_NoCrossTalk()
        {
            using var h = await QmpHarness.StartAsync();
            const int perCaller = 150;
            var server = Task.Run(async () =>
            {
                for (int i = 0; i < 6 * perCaller; i++)
                {
                    var c = await h.Qemu.ReadCommandAsync();
                    await h.Qemu.ReplyAsync(c, new JsonObject { ["echo"] = c.Arguments?.DeepClone() });
                }
            });
            var sync = Enumerable.Range(0, 3).Select(t => Task.Factory.StartNew(() =>
            {
                for (int i = 0; i < perCaller; i++)
                {
                    var r = h.Session.Execute("x-echo", new JsonObject { ["t"] = t, ["i"] = i });
                    Assert.Equal(t, r.GetProperty("echo").GetProperty("t").GetInt32());
                    Assert.Equal(i, r.GetProperty("echo").GetProperty("i").GetInt32());
                }
            }, TaskCreationOptions.LongRunning));
            var async = Enumerable.Range(3, 3).Select(t => Task.Run(async () =>
            {
                for (int i = 0; i < perCaller; i++)
                {
                    var r = await h.Session.ExecuteAsync("x-echo", new JsonObject { ["t"] = t, ["i"] = i });
                    Assert.Equal(t, r.GetProperty("echo").GetProperty("t").GetInt32());
                    Assert.Equal(i, r.GetProperty("echo").GetProperty("i").GetInt32());
                }
            }));
            await Task.WhenAll(sync.Concat(async)).WaitAsync(TimeSpan.FromSeconds(30));
            await server.Within();
            Assert.Equal(0, h.Session.UnknownReplyCount);
            Assert.Equal(0, h.Session.PendingCommandCount);
        }

        [Fact] // an asynchronous call whose reply comes after a synchronous caller finished is answered (the reader takes over at once)
        public async Task AsyncReply_AfterSyncCallerLeft_IsDelivered()
        {
            using var h = await QmpHarness.StartAsync();
            var slow = h.Session.ExecuteAsync("slow");
            var slowCmd = await h.Qemu.ReadCommandAsync().Within();
            var quick = OffThread(() => h.Session.Execute("quick"));
            await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync().Within(), new JsonObject { ["q"] = 1 });
            await quick;
            await h.Qemu.ReplyAsync(slowCmd, new JsonObject { ["s"] = 1 });
            Assert.Equal(1, (await slow.Within()).GetProperty("s").GetInt32());
        }

        [Fact] // no reply: QmpTimeoutException after the call's timeout, the late reply is dropped, the session still works
        public async Task Execute_Timeout_ThenLateReplyDropped()
        {
            using var h = await QmpHarness.StartAsync();
            var clock = Stopwatch.StartNew();
            var call = OffThread(() => h.Session.Execute("hang", null, new QmpCallOptions { Timeout = Short }));
            var cmd = await h.Qemu.ReadCommandAsync().Within();
            var ex = await Assert.ThrowsAsync<QmpTimeoutException>(() => call);
            Assert.InRange(clock.Elapsed, Short, TimeSpan.FromSeconds(3));
            Assert.Equal(Short, ex.Timeout);
            await h.Qemu.ReplyAsync(cmd, new JsonObject());
            var next = OffThread(() => h.Session.Execute("next"));
            await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync().Within(), new JsonObject { ["n"] = 2 });
            Assert.Equal(2, (await next).GetProperty("n").GetInt32());
            Assert.Equal(1, h.Session.LateReplyCount);
        }

        [Fact] // Ctrl+C while the caller reads: OperationCanceledException promptly, the session stays usable
        public async Task Execute_Cancelled_WhileReading()
        {
            using var h = await QmpHarness.StartAsync();
            using var cts = new CancellationTokenSource();
            var call = OffThread(() => h.Session.Execute("hang", null, null, cts.Token));
            await h.Qemu.ReadCommandAsync().Within();
            var clock = Stopwatch.StartNew();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Fact] // QEMU goes away while the caller reads: QmpDisconnectedException with the cause, the session is Broken
        public async Task Execute_ConnectionClosed_WhileReading()
        {
            using var h = await QmpHarness.StartAsync();
            var call = OffThread(() => h.Session.Execute("quit"));
            await h.Qemu.ReadCommandAsync().Within();
            h.Qemu.Close();
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call);
            Assert.Contains("closed the connection", ex.Message);
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
        }

        [Fact] // a message that is not JSON, read by the caller: the session breaks as it would on the reader thread, and the call says why
        public async Task Execute_InvalidJson_BreaksSession()
        {
            using var h = await QmpHarness.StartAsync();
            var call = OffThread(() => h.Session.Execute("query-status"));
            await h.Qemu.ReadCommandAsync().Within();
            await h.Qemu.SendAsync("{\"return\": nope}\r\n");
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call);
            Assert.IsType<QmpProtocolException>(ex.InnerException);
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
        }

        [Fact] // an error reply reaches the synchronous caller as QmpCommandException with QEMU's class and text
        public async Task Execute_ErrorReply_IsTyped()
        {
            using var h = await QmpHarness.StartAsync();
            var call = OffThread(() => h.Session.Execute("nope"));
            await h.Qemu.ReplyErrorAsync(await h.Qemu.ReadCommandAsync().Within(), "CommandNotFound", "The command nope has not been found");
            var ex = await Assert.ThrowsAsync<QmpCommandException>(() => call);
            Assert.Equal("CommandNotFound", ex.ErrorClass);
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }
    }
}
