using System;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>The greeting and capability negotiation: events around the handshake, malformed greetings, refused qmp_capabilities, oob offered or not.</summary>
    public class HandshakeTests
    {
        [Fact] // events before the greeting and between qmp_capabilities and its reply are events, not the greeting/reply
        public async Task EventsBeforeGreetingAndDuringNegotiation_AreKeptAsEvents()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendEventAsync("VSERPORT_CHANGE", new JsonObject { ["id"] = "channel0", ["open"] = true });
            await qemu.SendGreetingAsync();
            var caps = await qemu.ReadCommandAsync();
            await qemu.SendEventAsync("NIC_RX_FILTER_CHANGED", new JsonObject { ["path"] = "/machine/peripheral/nic0" });
            await qemu.SendEventAsync("RESUME");
            await qemu.ReplyAsync(caps);
            using var session = await connecting.Within();

            Assert.Equal(QmpSessionState.Running, session.State);
            Assert.Equal(new[] { "VSERPORT_CHANGE", "NIC_RX_FILTER_CHANGED", "RESUME" }, session.GetEvents().Select(e => e.Name));
            Assert.Equal(new long[] { 1, 2, 3 }, session.GetEvents().Select(e => e.Sequence));

            // Replies stay aligned: the next command gets its own reply, not a stale one.
            var call = session.ExecuteAsync("query-status");
            var cmd = await qemu.ReadCommandAsync();
            await qemu.ReplyAsync(cmd, new JsonObject { ["status"] = "running" });
            Assert.Equal("running", (await call.Within()).GetProperty("status").GetString());
        }

        [Fact] // unknown capabilities and extra members are ignored; only oob is enabled
        public async Task GreetingWithExtraCapabilitiesAndMembers_IsAccepted()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendLineAsync("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 50, \"minor\": 2, \"major\": 10, \"x-build\": 1}, \"package\": \" v10.2.50 \", \"x-extra\": []}," +
                " \"capabilities\": [\"x-future\", \"oob\", \"__com.example_cap\"], \"x-member\": {\"a\": 1}}, \"__org.example_top\": true}");
            var caps = await qemu.ReadCommandAsync();
            await qemu.ReplyAsync(caps);
            using var session = await connecting.Within();

            Assert.Equal(new[] { "x-future", "oob", "__com.example_cap" }, session.Capabilities);
            Assert.Equal(10, session.QemuVersion!.Major);
            Assert.Equal(50, session.QemuVersion.Micro);
            Assert.Equal("v10.2.50", session.QemuVersion.Package);
            Assert.Equal("[\"oob\"]", caps.Arguments!["enable"]!.ToJsonString());
            Assert.True(session.OobEnabled);
        }

        [Theory] // a first message that is not a valid greeting → QmpGreetingException
        [InlineData("{\"return\": {}}")]
        [InlineData("{\"qmp\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}")]
        [InlineData("{\"QMP\": \"7.2.0\"}")]
        [InlineData("{\"QMP\": {\"capabilities\": []}}")]
        [InlineData("{\"QMP\": {\"version\": {\"qemu\": \"7.2.0\"}, \"capabilities\": []}}")]
        [InlineData("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": \"2\", \"major\": 7}}, \"capabilities\": []}}")]
        [InlineData("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"major\": 7}}, \"capabilities\": []}}")]
        [InlineData("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}}}")]
        [InlineData("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": \"oob\"}}")]
        [InlineData("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": [1]}}")]
        [InlineData("[\"QMP\"]")]
        public async Task MalformedGreeting_IsAGreetingError(string greeting)
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendLineAsync(greeting);
            await Assert.ThrowsAsync<QmpGreetingException>(() => connecting.Within());
            Assert.True(await qemu.WaitForClientCloseAsync(), "the client must close the connection after a bad greeting");
        }

        [Fact] // qmp_capabilities refused → QmpNegotiationException carrying the command error
        public async Task CapabilitiesError_IsANegotiationError()
        {
            using var server = new FakeQmpServer();
            var connecting = QmpSession.ConnectAsync(server.Endpoint);
            using var qemu = await server.AcceptAsync();
            await qemu.SendGreetingAsync(oob: true);
            var caps = await qemu.ReadCommandAsync();
            await qemu.ReplyErrorAsync(caps, "GenericError", "Capability 'oob' not available");
            var ex = await Assert.ThrowsAsync<QmpNegotiationException>(() => connecting.Within());
            var inner = Assert.IsType<QmpCommandException>(ex.InnerException);
            Assert.Equal("GenericError", inner.ErrorClass);
            Assert.Equal("qmp_capabilities", inner.Command);
            Assert.Contains("Capability 'oob' not available", ex.Message);
        }

        [Fact] // oob offered → enable:["oob"] and OobEnabled
        public async Task OobOffered_IsEnabled()
        {
            using var h = await QmpHarness.StartAsync(oob: true);
            Assert.Equal("qmp_capabilities", h.Capabilities.Name);
            Assert.False(h.Capabilities.Oob);
            Assert.Equal("{\"enable\":[\"oob\"]}", h.Capabilities.Arguments!.ToJsonString());
            Assert.NotNull(h.Capabilities.IdJson);
            Assert.True(h.Session.OobEnabled);
            Assert.Equal(new[] { "oob" }, h.Session.Capabilities);
        }

        [Theory] // oob not offered (or offered but disabled by the caller) → no enable, OobEnabled false, exec-oob refused locally
        [InlineData(false, true)]
        [InlineData(true, false)]
        public async Task OobNotOfferedOrNotWanted_IsNotEnabled(bool offered, bool wanted)
        {
            using var h = await QmpHarness.StartAsync(oob: offered, options: new QmpSessionOptions { EnableOob = wanted });
            Assert.Null(h.Capabilities.Arguments);
            Assert.False(h.Session.OobEnabled);
            await Assert.ThrowsAsync<InvalidOperationException>(() => h.Session.ExecuteAsync("yank", null, new QmpCallOptions { OutOfBand = true }));
        }

        [Fact] // QEMU greets once per connection; a stray second greeting is dropped, not taken as a reply
        public async Task SecondGreeting_IsDropped()
        {
            using var h = await QmpHarness.StartAsync();
            var call = h.Session.ExecuteAsync("query-version");
            var cmd = await h.Qemu.ReadCommandAsync();
            await h.Qemu.SendGreetingAsync();
            await h.Qemu.ReplyAsync(cmd, 7);
            Assert.Equal(7, (await call.Within()).GetInt32());
            Assert.Equal(QmpSessionState.Running, h.Session.State);
        }
    }
}
