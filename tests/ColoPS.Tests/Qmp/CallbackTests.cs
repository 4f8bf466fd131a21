using System;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>
    /// Caller code runs on the reader thread (observers, event filters, log and Disconnected handlers):
    /// when it throws, only the caller's own wait may fail, never the session: the reader must keep reading.
    /// </summary>
    public class CallbackTests
    {
        private sealed class ThrowingObserver : IQmpCommandObserver
        {
            private readonly bool _onSend;
            public ThrowingObserver(bool onSend) => _onSend = onSend;
            public void OnSend(QmpSession session, string command, string json) { if (_onSend) throw new InvalidOperationException("observer failed on send"); }
            // What a cmdlet's WriteVerbose does when called from a thread other than the pipeline's.
            public void OnReceive(QmpSession session, string command, string json) { if (!_onSend) throw new InvalidOperationException("observer failed on receive"); }
        }

        private static async Task<System.Text.Json.JsonElement> RoundTrip(QmpHarness h, string command)
        {
            var call = h.Session.ExecuteAsync(command);
            var cmd = await h.Qemu.ReadCommandAsync();
            Assert.Equal(command, cmd.Name);
            await h.Qemu.ReplyAsync(cmd, command);
            return await call.Within();
        }

        [Fact]
        public async Task ObserverThrowingOnReceive_DoesNotLoseTheReplyOrBreakTheSession()
        {
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { Log = r => throw new InvalidOperationException("log failed") });
            using (QmpCommandObserver.Use(new ThrowingObserver(onSend: false)))
            {
                Assert.Equal("query-status", (await RoundTrip(h, "query-status")).GetString());
            }
            Assert.Equal(QmpSessionState.Running, h.Session.State);
            Assert.Equal("query-name", (await RoundTrip(h, "query-name")).GetString());
        }

        [Fact]
        public async Task ObserverThrowingOnSend_FailsThatCallOnly_NothingSent()
        {
            using var h = await QmpHarness.StartAsync();
            using (QmpCommandObserver.Use(new ThrowingObserver(onSend: true)))
            {
                await Assert.ThrowsAsync<InvalidOperationException>(() => h.Session.ExecuteAsync("stop").Within());
            }
            Assert.Equal(0, h.Session.PendingCommandCount);
            Assert.Equal("query-status", (await RoundTrip(h, "query-status")).GetString()); // "stop" never went out
        }

        [Fact] // a data predicate that throws (an event without the member it reads) fails its own wait/subscription only
        public async Task ThrowingEventFilter_FailsOnlyItsOwnWait()
        {
            using var h = await QmpHarness.StartAsync();
            var badWait = h.Session.WaitForEventAsync(e => e.Data!.Value.GetProperty("id").GetString() == "j1", 0, TimeSpan.FromSeconds(30));
            var badFeed = h.Session.SubscribeEvents(e => e.Data!.Value.GetProperty("id").GetString() == "j1", 8, out var badSub);
            var goodWait = h.Session.WaitForEventAsync(new[] { "JOB_STATUS_CHANGE" }, 0, TimeSpan.FromSeconds(30));

            await h.Qemu.SendEventAsync("STOP"); // no data: both filters throw
            await h.Qemu.SendEventAsync("JOB_STATUS_CHANGE", new JsonObject { ["id"] = "j1", ["status"] = "running" });

            await Assert.ThrowsAsync<InvalidOperationException>(() => badWait.Within());
            await Assert.ThrowsAsync<InvalidOperationException>(() => badFeed.Completion.Within());
            Assert.Equal(2, (await goodWait.Within()).Sequence);
            Assert.Equal("query-status", (await RoundTrip(h, "query-status")).GetString());
            Assert.Equal(QmpSessionState.Running, h.Session.State);
            Assert.Equal(2, h.Session.GetEvents().Count);
            badSub.Dispose();
        }

        [Fact] // a Disconnected handler that throws does not stop pending calls from failing
        public async Task ThrowingDisconnectedHandler_PendingCallsStillFail()
        {
            using var h = await QmpHarness.StartAsync();
            h.Session.Disconnected += (s, e) => throw new InvalidOperationException("handler failed");
            var call = h.Session.ExecuteAsync("query-status");
            await h.Qemu.ReadCommandAsync();
            h.Qemu.Close();
            await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
        }
    }
}
