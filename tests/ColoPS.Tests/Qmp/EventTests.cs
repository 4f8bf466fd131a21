using System;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Events: optional data, timestamps, floods while a command is in flight, slow consumers, and waiting without missing an event.</summary>
    public class EventTests
    {
        // A round trip after some events: once its reply is in, every message sent before it has been dispatched.
        private static async Task SyncAsync(QmpHarness h)
        {
            var call = h.Session.ExecuteAsync("x-sync");
            await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync());
            await call.Within();
        }

        [Fact] // data is optional
        public async Task EventWithoutData_HasNullData()
        {
            using var h = await QmpHarness.StartAsync();
            await h.Qemu.SendLineAsync("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}}");
            await h.Qemu.SendEventAsync("BLOCK_JOB_COMPLETED", new JsonObject { ["device"] = "colo-disk0", ["len"] = 10 });
            await SyncAsync(h);
            var events = h.Session.GetEvents();
            Assert.Null(events[0].Data);
            Assert.Equal("colo-disk0", events[1].Data!.Value.GetProperty("device").GetString());
        }

        [Fact] // -1/-1 means QEMU could not read the clock: Timestamp is null, the raw values are kept
        public async Task TimestampMinusOne_IsNull()
        {
            using var h = await QmpHarness.StartAsync();
            await h.Qemu.SendEventAsync("RTC_CHANGE", new JsonObject { ["offset"] = 0 }, seconds: -1, microseconds: -1);
            await SyncAsync(h);
            var e = h.Session.GetEvents().Single();
            Assert.Null(e.Timestamp);
            Assert.Equal(-1, e.Seconds);
            Assert.Equal(-1, e.Microseconds);
        }

        [Theory] // microseconds convert exactly (the govmm µs-as-ns bug)
        [InlineData(0L, 0L)]
        [InlineData(1700000000L, 1L)]
        [InlineData(1700000000L, 999999L)]
        [InlineData(1234567890L, 123456L)]
        public async Task Timestamp_MicrosecondsConvertExactly(long seconds, long micros)
        {
            using var h = await QmpHarness.StartAsync();
            await h.Qemu.SendEventAsync("RESUME", null, seconds, micros);
            await SyncAsync(h);
            var ts = h.Session.GetEvents().Single().Timestamp!.Value;
            Assert.Equal(TimeSpan.Zero, ts.Offset);
            Assert.Equal(seconds * TimeSpan.TicksPerSecond + micros * 10, (ts - DateTimeOffset.UnixEpoch).Ticks);
        }

        [Fact] // 10k events while a command is in flight: the reply arrives, the history stays bounded and counts what it dropped
        public async Task EventStormDuringACommand_ReplyDeliveredHistoryBounded()
        {
            const int Storm = 10_000, Capacity = 100;
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { EventHistoryCapacity = Capacity });
            var call = h.Session.ExecuteAsync("migrate", new JsonObject { ["uri"] = "tcp:127.0.0.1:9998" });
            var cmd = await h.Qemu.ReadCommandAsync();
            var storm = new StringBuilder();
            for (int i = 1; i <= Storm; i++) storm.Append(FakeQmpConnection.EventJson("COLO_TEST", new JsonObject { ["n"] = i })).Append("\r\n");
            storm.Append(FakeQmpConnection.ReturnJson(cmd)).Append("\r\n");
            await h.Qemu.SendAsync(storm.ToString());

            await call.Within();
            Assert.Equal(Storm, h.Session.LastEventSequence);
            Assert.Equal(Storm - Capacity, h.Session.DiscardedEventCount);
            var kept = h.Session.GetEvents();
            Assert.Equal(Capacity, kept.Count);
            Assert.Equal(Storm - Capacity + 1, kept[0].Sequence);
            Assert.Equal(Storm, kept[^1].Data!.Value.GetProperty("n").GetInt32());
        }

        [Fact] // a subscriber that never reads and a waiter whose continuation blocks do not stall the reader
        public async Task SlowSubscriber_DoesNotBlockTheReader()
        {
            using var h = await QmpHarness.StartAsync();
            using var gate = new ManualResetEventSlim(false);
            var feed = h.Session.SubscribeEvents(e => e.Name == "SPAM", 8, out var sub);
            var blocked = h.Session.WaitForEventAsync(new[] { "SPAM" }, 0, TimeSpan.FromSeconds(30))
                .ContinueWith(t => gate.Wait(FakeQmpServer.Timeout), TaskContinuationOptions.ExecuteSynchronously);

            var call = h.Session.ExecuteAsync("query-status");
            var cmd = await h.Qemu.ReadCommandAsync();
            var sb = new StringBuilder();
            for (int i = 1; i <= 2000; i++) sb.Append(FakeQmpConnection.EventJson("SPAM", new JsonObject { ["n"] = i })).Append("\r\n");
            sb.Append(FakeQmpConnection.ReturnJson(cmd, "done")).Append("\r\n");
            await h.Qemu.SendAsync(sb.ToString());

            Assert.Equal("done", (await call.Within()).GetString());
            Assert.False(blocked.IsCompleted);
            // The subscriber's queue kept the newest 8 (drop-oldest).
            Assert.Equal(8, feed.Count);
            Assert.True(feed.TryRead(out var oldestKept));
            Assert.Equal(1993, oldestKept!.Data!.Value.GetProperty("n").GetInt32());
            gate.Set();
            await blocked.Within();
            sub.Dispose();
            while (feed.TryRead(out _)) { }
            await feed.Completion.Within();
        }

        [Fact] // the event came before the wait started; waiting from the sequence read before sending still sees it
        public async Task WaitForEvent_WithAfterSequence_CatchesAnEventThatAlreadyArrived()
        {
            using var h = await QmpHarness.StartAsync();
            await h.Qemu.SendEventAsync("OLD_EVENT");
            await SyncAsync(h);
            long mark = h.Session.LastEventSequence;
            Assert.Equal(1, mark);

            // The command causes the event, and QEMU sends the event before the reply (the fast-event race).
            var call = h.Session.ExecuteAsync("stop");
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendEventAsync("STOP");
            await h.Qemu.ReplyAsync(cmd);
            await call.Within();

            var e = await h.Session.WaitForEventAsync(new[] { "stop" }, mark, TimeSpan.FromSeconds(5)).Within(); // names match case-insensitively
            Assert.Equal("STOP", e.Name);
            Assert.Equal(2, e.Sequence);
            // A stale event of the same name before the mark is not taken.
            var again = h.Session.WaitForEventAsync(new[] { "OLD_EVENT" }, mark, TimeSpan.FromMilliseconds(200));
            await Assert.ThrowsAsync<QmpTimeoutException>(() => again.Within());
        }

        [Theory] // ExecuteAndWaitForEventAsync never misses the event, whether it comes before or after the reply
        [InlineData(true)]
        [InlineData(false)]
        public async Task ExecuteAndWaitForEvent_GetsTheEventBeforeOrAfterTheReply(bool eventFirst)
        {
            using var h = await QmpHarness.StartAsync();
            await h.Qemu.SendEventAsync("JOB_STATUS_CHANGE", new JsonObject { ["id"] = "old", ["status"] = "concluded" });
            await SyncAsync(h);

            var wait = h.Session.ExecuteAndWaitForEventAsync("block-job-cancel", new JsonObject { ["device"] = "j1" },
                e => e.Name == "JOB_STATUS_CHANGE" && e.Data?.GetProperty("id").GetString() == "j1", TimeSpan.FromSeconds(5));
            var cmd = await h.Qemu.ReadCommandAsync();
            Assert.Equal("j1", cmd.Arguments!["device"]!.GetValue<string>());
            var evt = FakeQmpConnection.EventJson("JOB_STATUS_CHANGE", new JsonObject { ["id"] = "j1", ["status"] = "aborting" });
            if (eventFirst) await h.Qemu.SendAsync(evt + "\r\n" + FakeQmpConnection.ReturnJson(cmd) + "\r\n");
            else
            {
                await h.Qemu.ReplyAsync(cmd);
                await h.Qemu.SendLineAsync(evt);
            }
            var e = await wait.Within();
            Assert.Equal("aborting", e.Data!.Value.GetProperty("status").GetString());
        }

        [Fact] // a command error surfaces from ExecuteAndWaitForEventAsync instead of a long wait
        public async Task ExecuteAndWaitForEvent_CommandErrorSurfaces()
        {
            using var h = await QmpHarness.StartAsync();
            var wait = h.Session.ExecuteAndWaitForEventAsync("x-colo-lost-heartbeat", null, e => e.Name == "COLO_EXIT", TimeSpan.FromSeconds(30));
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.ReplyErrorAsync(cmd, "CommandNotFound", "The command x-colo-lost-heartbeat has not been found");
            var ex = await Assert.ThrowsAsync<QmpCommandException>(() => wait.Within());
            Assert.Equal(QmpCommandException.CommandNotFound, ex.ErrorClass);
        }

        [Fact] // filters by name and by a predicate on data, for waiters and subscriptions
        public async Task Filters_ByNameAndByData()
        {
            using var h = await QmpHarness.StartAsync();
            var feed = h.Session.SubscribeEvents(e => e.Name == "COLO_EXIT", 16, out var sub);
            long mark = h.Session.LastEventSequence;
            var byData = h.Session.WaitForEventAsync(e => e.Name == "JOB_STATUS_CHANGE" && e.Data?.GetProperty("status").GetString() == "concluded", mark, TimeSpan.FromSeconds(5));
            var byName = h.Session.WaitForEventAsync(new[] { "COLO_EXIT", "SHUTDOWN" }, mark, TimeSpan.FromSeconds(5));

            await h.Qemu.SendEventAsync("RESUME");
            await h.Qemu.SendEventAsync("JOB_STATUS_CHANGE", new JsonObject { ["id"] = "j", ["status"] = "running" });
            await h.Qemu.SendEventAsync("COLO_EXIT", new JsonObject { ["mode"] = "primary", ["reason"] = "error" });
            await h.Qemu.SendEventAsync("JOB_STATUS_CHANGE", new JsonObject { ["id"] = "j", ["status"] = "concluded" });

            Assert.Equal(4, (await byData.Within()).Sequence);
            Assert.Equal(3, (await byName.Within()).Sequence);
            var only = await feed.ReadAsync().AsTask().Within();
            Assert.Equal("COLO_EXIT", only.Name);
            await SyncAsync(h);
            Assert.False(feed.TryRead(out _));
            sub.Dispose();
        }

        [Fact] // waits are bounded: no event → QmpTimeoutException
        public async Task WaitForEvent_TimesOut()
        {
            using var h = await QmpHarness.StartAsync();
            await Assert.ThrowsAsync<QmpTimeoutException>(() =>
                h.Session.WaitForEventAsync(new[] { "NEVER" }, h.Session.LastEventSequence, TimeSpan.FromMilliseconds(100)).Within());
        }
    }
}
