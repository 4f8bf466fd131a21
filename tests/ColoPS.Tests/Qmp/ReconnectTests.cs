using System;
using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    /// <summary>QEMU restarts behind a session: the old session breaks, a new one gets a new greeting, and pending commands are failed, not re-sent.</summary>
    public class ReconnectTests
    {
        private const string Qemu82Greeting =
            "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 8}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}";

        [Fact]
        public async Task AfterRestart_NewSessionGetsANewGreeting_OldPendingCommandsFailedNotResent()
        {
            using var server = new FakeQmpServer();
            var connecting1 = QmpSession.ConnectAsync(server.Endpoint);
            var qemu1 = await server.AcceptAsync();
            await qemu1.HandshakeAsync();
            using var old = await connecting1.Within();
            await qemu1.SendEventAsync("RESUME");
            var pending = old.ExecuteAsync("query-name");
            var oldCmd = await qemu1.ReadCommandAsync();

            // QEMU dies and a new one listens on the same path.
            qemu1.Close();
            server.Restart();
            var ex = await Assert.ThrowsAsync<QmpDisconnectedException>(() => pending.Within());
            Assert.Equal(QmpSessionState.Broken, old.State);

            var connecting2 = QmpSession.ConnectAsync(server.Endpoint);
            var qemu2 = await server.AcceptAsync();
            await qemu2.SendLineAsync(Qemu82Greeting);
            var caps = await qemu2.ReadCommandAsync();
            Assert.Equal("qmp_capabilities", caps.Name); // the first thing on the new connection: nothing replayed
            await qemu2.ReplyAsync(caps);
            using var fresh = await connecting2.Within();

            Assert.NotEqual(old.InstanceId, fresh.InstanceId);
            Assert.Equal(7, old.QemuVersion!.Major);
            Assert.Equal(8, fresh.QemuVersion!.Major);
            Assert.True(fresh.OobEnabled);
            Assert.Equal(QmpSessionState.Running, fresh.State);
            Assert.Equal(0, fresh.LastEventSequence);
            Assert.Empty(fresh.GetEvents());
            Assert.Equal(0, fresh.PendingCommandCount);

            var call = fresh.ExecuteAsync("query-status");
            var cmd = await qemu2.ReadCommandAsync();
            Assert.Equal("query-name", oldCmd.Name);
            Assert.Equal("query-status", cmd.Name); // the old session's query-name was not sent again
            await qemu2.ReplyAsync(cmd, "running");
            Assert.Equal("running", (await call.Within()).GetString());
            Assert.Equal(QmpSessionState.Broken, old.State);
        }
    }
}
