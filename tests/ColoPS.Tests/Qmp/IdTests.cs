using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Routing replies by id: unknown ids, id-less errors after a parser reset or a parse failure, ids of the wrong JSON type.</summary>
    public class IdTests
    {
        private const string IdlessParseError = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, invalid keyword 'x'\"}}";

        [Fact] // an unknown id is dropped, counted and logged; the next command is fine
        public async Task UnknownId_IsDroppedCountedAndLogged()
        {
            var log = new ConcurrentQueue<QmpLogRecord>();
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { Log = log.Enqueue });
            var call = h.Session.ExecuteAsync("query-status");
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync("{\"return\": {\"stale\": true}, \"id\": \"someone-else-7\"}");
            await h.Qemu.ReplyAsync(cmd, new JsonObject { ["status"] = "running" });
            Assert.Equal("running", (await call.Within()).GetProperty("status").GetString());
            Assert.Equal(1, h.Session.UnknownReplyCount);
            Assert.Contains(log, r => r.Level == QmpLogLevel.Warning && r.Message.Contains("unknown id") && r.Message.Contains("someone-else-7"));

            var next = h.Session.ExecuteAsync("query-name");
            var cmd2 = await h.Qemu.ReadCommandAsync();
            await h.Qemu.ReplyAsync(cmd2, "vm1");
            Assert.Equal("vm1", (await next.Within()).GetString());
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Fact] // after a parser-recovery byte, the id-less GenericError is swallowed, not given to a command
        public async Task IdlessErrorAfterRawRecoveryByte_IsSwallowed()
        {
            using var h = await QmpHarness.StartAsync();
            await h.Session.SendRawAsync(Encoding.ASCII.GetBytes("{\"execute\": \u001b\n"), expectIdlessErrors: 1).Within();
            string? raw = await h.Qemu.ReadLineAsync();
            Assert.Equal("{\"execute\": \u001b", raw);

            var call = h.Session.ExecuteAsync("query-status");
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync(IdlessParseError);  // QEMU's answer to the garbage comes first
            await h.Qemu.ReplyAsync(cmd, new JsonObject { ["status"] = "running" });
            Assert.Equal("running", (await call.Within()).GetProperty("status").GetString());
            Assert.Equal(0, h.Session.UnknownReplyCount);
        }

        [Fact] // with OOB off and one command in flight, an id-less error belongs to it
        public async Task IdlessErrorWithOneCommandPending_IsAttributedToIt()
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteAsync("object-add", new JsonObject { ["qom-type"] = "iothread", ["id"] = "io0" });
            await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync(IdlessParseError);
            var ex = await Assert.ThrowsAsync<QmpCommandException>(() => call.Within());
            Assert.Equal(QmpCommandException.GenericError, ex.ErrorClass);
            Assert.Equal("object-add", ex.Command);
            Assert.Equal(0, h.Session.PendingCommandCount);

            var next = h.Session.ExecuteAsync("query-status");
            await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync(), 1);
            Assert.Equal(1, (await next.Within()).GetInt32());
        }

        [Fact] // with OOB off the oldest command in flight gets it (QEMU answers in order)
        public async Task IdlessErrorWithSeveralPendingAndOobOff_GoesToTheOldest()
        {
            using var h = await QmpHarness.StartAsync();
            var first = h.Session.ExecuteAsync("cmd-first");
            var c1 = await h.Qemu.ReadCommandAsync();
            var second = h.Session.ExecuteAsync("cmd-second");
            var c2 = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync(IdlessParseError);
            await h.Qemu.ReplyAsync(c2, 2);
            Assert.Equal("cmd-first", (await Assert.ThrowsAsync<QmpCommandException>(() => first.Within())).Command);
            Assert.Equal(2, (await second.Within()).GetInt32());
            Assert.Equal("cmd-first", c1.Name);
        }

        [Fact] // with OOB on the order is not fixed: an id-less error with commands in flight cannot be matched → session fault
        public async Task IdlessErrorWithOobOn_FaultsTheSession()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            var call = h.Session.ExecuteAsync("query-status");
            await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync(IdlessParseError);
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
            Assert.IsType<QmpProtocolException>(ex.InnerException);
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
        }

        [Fact] // an id-less message with nothing in flight is dropped and counted
        public async Task IdlessMessagesWithNothingPending_AreDropped()
        {
            using var h = await QmpHarness.StartAsync();
            await h.Qemu.SendLineAsync(IdlessParseError);
            await h.Qemu.SendLineAsync("{\"return\": {}}");
            await h.Qemu.SendEventAsync("MARK");
            await h.Session.WaitForEventAsync(new[] { "MARK" }, 0, FakeQmpServer.Timeout).Within(); // both were dispatched before any command
            var call = h.Session.ExecuteAsync("query-status");
            await h.Qemu.ReplyAsync(await h.Qemu.ReadCommandAsync(), "ok");
            Assert.Equal("ok", (await call.Within()).GetString());
            Assert.Equal(2, h.Session.UnknownReplyCount);
        }

        [Theory] // ids that are not the number of a command in flight cannot be ours: dropped and counted
        [InlineData("\"2\"")]
        [InlineData("999")]
        [InlineData("2.5")]
        [InlineData("null")]
        [InlineData("true")]
        [InlineData("[2]")]
        [InlineData("{\"id\": 2}")]
        public async Task IdNotOfACallInFlight_IsDropped(string id)
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteAsync("query-status");
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync("{\"return\": \"wrong\", \"id\": " + id + "}");
            await h.Qemu.ReplyAsync(cmd, "right");
            Assert.Equal("right", (await call.Within()).GetString());
            Assert.Equal(1, h.Session.UnknownReplyCount);
        }

        [Fact] // generated ids are unique numbers per session, as short as they can be (QEMU pays for every byte)
        public async Task GeneratedIds_AreUniqueNumbers()
        {
            using var h = await QmpHarness.StartAsync();
            var ids = new System.Collections.Generic.List<string>();
            for (int i = 0; i < 20; i++)
            {
                var call = h.Session.ExecuteAsync("query-status");
                var cmd = await h.Qemu.ReadCommandAsync();
                Assert.Equal(System.Text.Json.JsonValueKind.Number, cmd.Id!.GetValueKind());
                ids.Add(cmd.IdJson!);
                await h.Qemu.ReplyAsync(cmd);
                await call.Within();
            }
            Assert.Equal(ids.Count, ids.Distinct().Count());
            Assert.All(ids, id => Assert.Matches("^[1-9][0-9]*$", id));
            Assert.Equal("1", h.Capabilities.IdJson);
        }
    }
}
