using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Operations;
using ColoPS.Qemu.States;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo.Operations
{
    /// <summary>
    /// How Get-ColoStatus says per link whether it is encrypted, from what QEMU reports. The replies
    /// are recorded from real QEMU 11.1.3 pairs with and without TLS (Recorded/README.md) and
    /// replayed by the fake QMP server; a few edge cases change one member of a recorded reply.
    /// </summary>
    public class LinkReaderTests
    {
        private static string Recorded(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Colo", "Operations", "Recorded", name + ".json"));

        private static JsonNode ReturnOf(string text) => JsonNode.Parse(text)!["return"]!.DeepClone();

        /// <summary>Runs LinkReader against the fake, answering each command from <paramref name="replies"/> by name.</summary>
        private static async Task<IReadOnlyList<ColoLink>> ReadAsync(ColoMode mode, string chardevs, IReadOnlyDictionary<string, JsonNode> replies)
        {
            using var h = await QmpHarness.StartAsync();
            using var doc = JsonDocument.Parse(chardevs);
            var chardevReturn = doc.RootElement.GetProperty("return").Clone();
            var reading = LinkReader.ReadAsync(h.Session, mode, chardevReturn, new QmpCallOptions(), CancellationToken.None);
            var asked = new List<string>();
            while (!reading.IsCompleted)
            {
                var next = h.Qemu.ReadCommandAsync();
                if (await Task.WhenAny(next, reading).Within() == reading) break;
                var cmd = await next;
                asked.Add(cmd.Name);
                await h.Qemu.ReplyAsync(cmd, replies[cmd.Name].DeepClone());
            }
            var links = await reading.Within();
            // Only the queries a status read may make: nothing here changes QEMU.
            Assert.All(asked, name => Assert.StartsWith("query-", name, StringComparison.Ordinal));
            return links;
        }

        private static Dictionary<string, JsonNode> Replies(string mode, string role) => new()
        {
            ["query-migrate-parameters"] = ReturnOf(Recorded($"{mode}-{role}-query-migrate-parameters")),
            ["query-named-block-nodes"] = ReturnOf(Recorded($"{mode}-{role}-query-named-block-nodes")),
        };

        private static ColoLink Link(IReadOnlyList<ColoLink> links, string name) => Assert.Single(links, l => l.Name == name);

        [Fact]
        public async Task A_TLS_primary_reports_migration_and_NBD_encrypted_and_the_chardevs_as_unknown()
        {
            var links = await ReadAsync(ColoMode.Primary, Recorded("tls-primary-query-chardev"), Replies("tls", "primary"));
            Assert.Equal(new[] { "Migration", "Nbd", "Mirror", "Compare" }, links.Select(l => l.Name));
            var m = Link(links, "Migration");
            Assert.True(m.Encrypted);
            Assert.Equal("127.0.0.2", m.Peer);
            Assert.Equal("query-migrate-parameters: tls-creds tls-client0", m.Evidence);
            var nbd = Link(links, "Nbd");
            Assert.True(nbd.Encrypted);
            Assert.Equal("replication0", nbd.Object);
            Assert.Equal("127.0.0.2:47309", nbd.Peer);
            Assert.Contains("tls-creds tls-client0", nbd.Evidence, StringComparison.Ordinal);
            // QEMU's query-chardev names the peer of a connected socket but says nothing of TLS.
            var mirror = Link(links, "Mirror");
            Assert.Null(mirror.Encrypted);
            Assert.Equal("mirror0", mirror.Object);
            Assert.Equal("127.0.0.1:38400", mirror.Peer);
            Assert.Equal("127.0.0.1:38968", Link(links, "Compare").Peer);
        }

        [Fact]
        public async Task A_TLS_secondary_reports_its_incoming_migration_encrypted_and_the_NBD_server_as_unknown()
        {
            var links = await ReadAsync(ColoMode.Secondary, Recorded("tls-secondary-query-chardev"), Replies("tls", "secondary"));
            var m = Link(links, "Migration");
            Assert.True(m.Encrypted);
            Assert.Null(m.Peer);
            Assert.Equal("query-migrate-parameters: tls-creds tls-server0", m.Evidence);
            var nbd = Link(links, "Nbd");
            Assert.Null(nbd.Encrypted);
            Assert.Equal("nbd-server", nbd.Object);
            // The secondary's own sockets toward the primary: red0 and red1.
            Assert.Equal("red0", Link(links, "Mirror").Object);
            Assert.Equal("127.0.0.1:47303", Link(links, "Mirror").Peer);
            Assert.Equal("red1", Link(links, "Compare").Object);
            Assert.Equal("127.0.0.1:47304", Link(links, "Compare").Peer);
        }

        [Fact]
        public async Task A_plain_primary_reports_migration_and_NBD_in_clear()
        {
            var links = await ReadAsync(ColoMode.Primary, Recorded("plain-primary-query-chardev"), Replies("plain", "primary"));
            var m = Link(links, "Migration");
            Assert.False(m.Encrypted);
            Assert.Null(m.Peer);
            Assert.Equal("query-migrate-parameters: no tls-creds", m.Evidence);
            var nbd = Link(links, "Nbd");
            Assert.False(nbd.Encrypted);
            Assert.Equal("127.0.0.2:47409", nbd.Peer);
            Assert.Contains("no tls-creds", nbd.Evidence, StringComparison.Ordinal);
        }

        [Fact]
        public async Task A_plain_secondary_reports_its_incoming_migration_in_clear()
        {
            var links = await ReadAsync(ColoMode.Secondary, Recorded("plain-secondary-query-chardev"), Replies("plain", "secondary"));
            Assert.False(Link(links, "Migration").Encrypted);
            Assert.Null(Link(links, "Nbd").Encrypted);
        }

        [Fact]
        public async Task A_survivor_without_replication_node_says_so_and_reads_its_listeners()
        {
            // After a failover: no replication0, mirror0 and compare1 listening with no peer.
            var replies = Replies("tls", "primary");
            replies["query-named-block-nodes"] = new JsonArray(((JsonArray)replies["query-named-block-nodes"]).Where(n => (string?)n!["node-name"] != "replication0").Select(n => n!.DeepClone()).ToArray());
            const string chardevs = @"{""return"": [{""frontend-open"": false, ""filename"": ""disconnected:tcp:127.0.0.1:47303,server=on"", ""label"": ""mirror0""}, {""frontend-open"": false, ""filename"": ""disconnected:tcp:127.0.0.1:47304,server=on"", ""label"": ""compare1""}]}";
            var links = await ReadAsync(ColoMode.None, chardevs, replies);
            var nbd = Link(links, "Nbd");
            Assert.Null(nbd.Encrypted);
            Assert.Contains("No replication0 node", nbd.Evidence, StringComparison.Ordinal);
            Assert.Null(Link(links, "Mirror").Peer);
            Assert.Null(Link(links, "Compare").Peer);
        }

        [Fact]
        public async Task A_replication_node_QEMU_names_by_URI_is_clear_and_a_broken_json_filename_unknown()
        {
            var replies = Replies("tls", "primary");
            foreach (var n in (JsonArray)replies["query-named-block-nodes"])
                if ((string?)n!["node-name"] == "replication0") n["file"] = "nbd://127.0.0.2:47309/parent0";
            Assert.False(Link(await ReadAsync(ColoMode.Primary, Recorded("tls-primary-query-chardev"), replies), "Nbd").Encrypted);
            foreach (var n in (JsonArray)replies["query-named-block-nodes"])
                if ((string?)n!["node-name"] == "replication0") n["file"] = "json:{\"driver\": ";
            var broken = Link(await ReadAsync(ColoMode.Primary, Recorded("tls-primary-query-chardev"), replies), "Nbd");
            Assert.Null(broken.Encrypted);
            Assert.Contains("not JSON", broken.Evidence, StringComparison.Ordinal);
        }
    }
}
