using System;
using System.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using ColoPS.Colo;
using ColoPS.Colo.Operations;
using Xunit;

namespace ColoPS.Tests.Colo.Operations
{
    /// <summary>
    /// Which survivor sockets a resume renews: only a connection that is not the new secondary's.
    /// The chardev lists are the ones recorded from a QEMU 11.1.3 TLS pair (Recorded/README.md):
    /// mirror0 and compare1 there are the secondary's red0 and red1.
    /// </summary>
    public class StalePeerSocketsTests
    {
        private static JsonElement Chardevs(string name)
            => JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Colo", "Operations", "Recorded", name + ".json"))).RootElement.GetProperty("return").Clone();

        private static JsonElement WithFilename(JsonElement chardevs, string label, string filename)
        {
            var a = JsonNode.Parse(chardevs.GetRawText())!.AsArray();
            foreach (var c in a) if ((string?)c!["label"] == label) c["filename"] = filename;
            return JsonDocument.Parse(a.ToJsonString()).RootElement.Clone();
        }

        private static ColoConfig Recorded()
        {
            var c = ColoPlansTests.Config();
            c.Ports.Mirror = 47303;
            c.Ports.Compare = 47304;
            return c;
        }

        private static readonly Func<int, int, bool?> NotAsked = (_, _) => throw new InvalidOperationException("With the secondary's chardevs, /proc is not read.");

        [Fact]
        public void The_new_secondarys_own_connections_are_kept()
            => Assert.Empty(StalePeerSockets.Find(Recorded(), Chardevs("tls-primary-query-chardev"), Chardevs("tls-secondary-query-chardev"), NotAsked));

        [Fact]
        public void A_connection_from_anyone_else_is_renewed()
        {
            // The survivor's compare1 holds a peer that left; the secondary's red1 waits in the backlog.
            var survivor = WithFilename(Chardevs("tls-primary-query-chardev"), "compare1", "tcp:127.0.0.1:47304,server=on <-> 127.0.0.1:51111");
            Assert.Equal(new[] { "compare1" }, StalePeerSockets.Find(Recorded(), survivor, Chardevs("tls-secondary-query-chardev"), NotAsked));
            // A secondary not connected at all (its red0 still dialling) does not own mirror0's peer either.
            var dialling = WithFilename(Chardevs("tls-secondary-query-chardev"), "red0", "disconnected:tcp:127.0.0.1:47303");
            Assert.Equal(new[] { "mirror0" }, StalePeerSockets.Find(Recorded(), Chardevs("tls-primary-query-chardev"), dialling, NotAsked));
        }

        [Fact]
        public void Listening_sockets_are_left_alone()
        {
            var survivor = WithFilename(WithFilename(Chardevs("tls-primary-query-chardev"), "mirror0", "disconnected:tcp:127.0.0.1:47303,server=on"), "compare1", "disconnected:tcp:127.0.0.1:47304,server=on");
            Assert.Empty(StalePeerSockets.Find(Recorded(), survivor, null, NotAsked));
        }

        [Fact]
        public void Without_the_secondarys_session_the_TCP_state_decides()
        {
            var survivor = Chardevs("tls-primary-query-chardev");
            // mirror0's peer 127.0.0.1:38400 closed (CLOSE-WAIT); compare1's peer still there; unknown is kept.
            Func<int, int, bool?> state = (local, peer) => local == 47303 && peer == 38400 ? true : local == 47304 && peer == 38968 ? false : null;
            Assert.Equal(new[] { "mirror0" }, StalePeerSockets.Find(Recorded(), survivor, null, state));
            Assert.Empty(StalePeerSockets.Find(Recorded(), survivor, null, (_, _) => null));
        }

        [Fact]
        public void The_TCP_state_is_read_from_a_proc_net_tcp_table()
        {
            // /proc/<qemu>/net/tcp of QEMU 11.1.3 with a listening chardev on 47113 a client on 44868 closed.
            const string table =
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
                "   1: 0100007F:B809 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2214472 1 00000000949afee3 100 0 0 10 0\n" +
                "   2: 0100007F:B809 0100007F:AF44 08 00000000:00000001 00:00000000 00000000     0        0 2214508 1 000000005c2930b8 20 4 0 10 -1\n" +
                "   3: 0100007F:AF44 0100007F:B809 05 00000000:00000000 03:0000173C 00000000     0        0 0 3 000000008478a37f\n";
            Assert.Equal("08", StalePeerSockets.StateIn(table, 47113, 44868));
            Assert.Equal("05", StalePeerSockets.StateIn(table, 44868, 47113));
            Assert.Null(StalePeerSockets.StateIn(table, 47113, 1234));
            Assert.Null(StalePeerSockets.ClosedByPeer(0, 47113, 44868));
        }
    }
}
