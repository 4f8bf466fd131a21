using System;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>Message size limits: the cap on one message from QEMU, large replies, and the 64 KiB read boundary.</summary>
    public class SizeTests
    {
        private const int SmallCap = 4096;

        // {"return": "xxx…", "id": "<id>"} padded to exactly `size` bytes (from '{' to '}').
        private static string ReplyOfSize(FakeCommand cmd, int size) => ReplyOfSize(cmd, size, out _);

        private static string ReplyOfSize(FakeCommand cmd, int size, out int payload)
        {
            string head = "{\"return\": \"", tail = "\", \"id\": " + cmd.IdJson + "}";
            payload = size - head.Length - tail.Length;
            Assert.True(payload > 0);
            return head + new string('x', payload) + tail;
        }

        [Theory] // at the cap −1 and at the cap a reply is accepted
        [InlineData(SmallCap - 1)]
        [InlineData(SmallCap)]
        public async Task ReplyAtOrBelowTheCap_IsAccepted(int size)
        {
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { MaxMessageBytes = SmallCap });
            var call = h.Session.ExecuteAsync("x-big");
            var cmd = await h.Qemu.ReadCommandAsync();
            string reply = ReplyOfSize(cmd, size, out int payload);
            Assert.Equal(size, Encoding.UTF8.GetByteCount(reply));
            await h.Qemu.SendLineAsync(reply);
            var result = await call.Within();
            Assert.Equal(payload, result.GetString()!.Length);
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }

        [Fact] // one byte over the cap fails the session with a clear protocol error; the caller is not left hanging
        public async Task ReplyOneByteOverTheCap_BreaksTheSessionWithProtocolError()
        {
            using var h = await QmpHarness.StartAsync(options: new QmpSessionOptions { MaxMessageBytes = SmallCap });
            var call = h.Session.ExecuteAsync("x-big");
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendLineAsync(ReplyOfSize(cmd, SmallCap + 1));
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => call.Within());
            var cause = Assert.IsType<QmpProtocolException>(ex.InnerException);
            Assert.Contains("4096-byte cap", cause.Message);
            Assert.Equal(QmpSessionState.Broken, h.Session.State);
            Assert.Same(cause, h.Session.Fault);
        }

        [Fact] // a greeting over the cap is a greeting error, not a hang
        public async Task GreetingOverTheCap_IsAGreetingError()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint, new QmpSessionOptions { MaxMessageBytes = SmallCap });
            using var qemu = await server.AcceptAsync();
            var greeting = JsonNode.Parse(FakeQmpConnection.Qemu72Greeting)!.AsObject();
            greeting["QMP"]!["x-padding"] = new string('p', SmallCap);
            await qemu.SendLineAsync(greeting.ToJsonString());
            var ex = await Assert.ThrowsAsync<QmpGreetingException>(() => connecting.Within());
            Assert.Contains("cap", ex.Message);
        }

        [Fact] // a query-qmp-schema-sized reply (≈200 KB) with the default cap
        public async Task SchemaSizedReply_IsDelivered()
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteAsync("query-qmp-schema");
            var cmd = await h.Qemu.ReadCommandAsync();
            var schema = new JsonArray();
            for (int i = 0; i < 2000; i++)
            {
                schema.Add(new JsonObject
                {
                    ["name"] = "x-command-" + i, ["meta-type"] = "command", ["arg-type"] = i.ToString(), ["ret-type"] = (i + 1).ToString(),
                    ["allow-oob"] = i % 7 == 0, ["features"] = new JsonArray("unstable"),
                });
            }
            string reply = FakeQmpConnection.ReturnJson(cmd, schema);
            Assert.True(reply.Length > 200_000, reply.Length.ToString());
            await h.Qemu.SendLineAsync(reply);
            var result = await call.Within();
            Assert.Equal(2000, result.GetArrayLength());
            Assert.Equal("x-command-1999", result[1999].GetProperty("name").GetString());
        }

        [Theory] // the 64 KiB boundary (the go-qemu / govmm bufio bug), alone or after an event that shifts it across a read
        [InlineData(65535, 0)]
        [InlineData(65536, 0)]
        [InlineData(65537, 0)]
        [InlineData(65536, 65000)]
        [InlineData(131073, 1)]
        public async Task RepliesAroundThe64KiBBoundary_AreDelivered(int size, int eventPadding)
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = "info mem" });
            var cmd = await h.Qemu.ReadCommandAsync();
            string prefix = eventPadding > 0 ? FakeQmpConnection.EventJson("X_PAD", new JsonObject { ["pad"] = new string('e', eventPadding) }) + "\r\n" : "";
            await h.Qemu.SendAsync(prefix + ReplyOfSize(cmd, size, out int payload) + "\r\n");
            var result = await call.Within();
            Assert.Equal(payload, result.GetString()!.Length);
            Assert.All(result.GetString()!.ToCharArray(), c => Assert.Equal('x', c));
            Assert.Equal(eventPadding > 0 ? 1 : 0, h.Session.GetEvents().Count);
        }
    }
}
