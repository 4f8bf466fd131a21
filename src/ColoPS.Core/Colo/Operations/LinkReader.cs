using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// Reads, per link between the sites, whether this QEMU runs it over TLS, from what QEMU itself
    /// reports rather than from the configuration (a QEMU started by hand, or a chardev added by
    /// someone else, would otherwise be reported as it should be, not as it is).
    /// </summary>
    public static class LinkReader
    {
        /// <param name="chardevs">This QEMU's query-chardev answer, read once by the caller.</param>
        public static async Task<IReadOnlyList<ColoLink>> ReadAsync(QmpSession session, ColoPS.Qemu.States.ColoMode? mode, JsonElement chardevs, QmpCallOptions call, CancellationToken ct)
        {
            var links = new List<ColoLink>();
            var parameters = await session.ExecuteAsync("query-migrate-parameters", null, call, ct).ConfigureAwait(false);
            string creds = Json.Str(parameters, "tls-creds") ?? string.Empty;
            string? hostname = Json.Str(parameters, "tls-hostname");
            links.Add(new ColoLink
            {
                Name = "Migration",
                Object = "migration",
                Peer = string.IsNullOrEmpty(hostname) ? null : hostname,
                Encrypted = creds.Length > 0,
                Evidence = creds.Length > 0 ? $"query-migrate-parameters: tls-creds {creds}" : "query-migrate-parameters: no tls-creds",
            });

            if (mode == ColoPS.Qemu.States.ColoMode.Secondary)
            {
                // QEMU reports neither the NBD server's TLS nor a socket chardev's: query-block-exports
                // and query-chardev have no such member. Unknown is said as unknown.
                links.Add(Unknown("Nbd", "nbd-server", null, "QEMU does not report the NBD server's TLS (query-block-exports has no such member)"));
            }
            else
            {
                links.Add(await NbdClientAsync(session, call, ct).ConfigureAwait(false));
            }

            var peerFacing = mode == ColoPS.Qemu.States.ColoMode.Secondary
                ? new[] { ("Mirror", Ids.SecondaryMirrorChardev), ("Compare", Ids.SecondaryCompareChardev) }
                : new[] { ("Mirror", Ids.Mirror), ("Compare", Ids.Compare) };
            foreach (var (name, label) in peerFacing)
            {
                foreach (var c in chardevs.EnumerateArray())
                {
                    if (Json.Str(c, "label") != label) continue;
                    links.Add(Unknown(name, label, ChardevFilename.Peer(Json.Str(c, "filename")), "QEMU does not report a socket chardev's TLS (query-chardev has no such member)"));
                }
            }
            return links;
        }

        // The replication node's NBD child carries its options in the node's json: filename.
        private static async Task<ColoLink> NbdClientAsync(QmpSession session, QmpCallOptions call, CancellationToken ct)
        {
            var nodes = await session.ExecuteAsync("query-named-block-nodes", new System.Text.Json.Nodes.JsonObject { ["flat"] = true }, call, ct).ConfigureAwait(false);
            foreach (var n in nodes.EnumerateArray())
            {
                if (Json.Str(n, "node-name") != Ids.ReplicationNode) continue;
                string file = Json.Str(n, "file") ?? string.Empty;
                if (!file.StartsWith("json:", StringComparison.Ordinal))
                    return new ColoLink { Name = "Nbd", Object = Ids.ReplicationNode, Peer = file, Encrypted = false, Evidence = $"query-named-block-nodes: {Ids.ReplicationNode} is {file}, no TLS options" };
                try
                {
                    using var doc = JsonDocument.Parse(file.Substring(5));
                    var nbd = doc.RootElement.TryGetProperty("file", out var f) ? f : doc.RootElement;
                    string? tls = Json.Str(nbd, "tls-creds");
                    string? host = Json.Str(nbd, "host") ?? (nbd.TryGetProperty("server", out var s) ? Json.Str(s, "host") : null);
                    string? port = Json.Str(nbd, "port") ?? (nbd.TryGetProperty("server", out var s2) ? Json.Str(s2, "port") : null);
                    return new ColoLink
                    {
                        Name = "Nbd",
                        Object = Ids.ReplicationNode,
                        Peer = host == null ? null : host + ":" + port,
                        Encrypted = !string.IsNullOrEmpty(tls),
                        Evidence = string.IsNullOrEmpty(tls) ? $"query-named-block-nodes: {Ids.ReplicationNode}'s NBD options have no tls-creds" : $"query-named-block-nodes: {Ids.ReplicationNode}'s NBD options name tls-creds {tls}",
                    };
                }
                catch (JsonException)
                {
                    return Unknown("Nbd", Ids.ReplicationNode, null, "query-named-block-nodes: the node's filename is not JSON");
                }
            }
            return Unknown("Nbd", Ids.ReplicationNode, null, $"No {Ids.ReplicationNode} node: this side replicates to no one now");
        }

        private static ColoLink Unknown(string name, string obj, string? peer, string evidence)
            => new ColoLink { Name = name, Object = obj, Peer = peer, Encrypted = null, Evidence = evidence };
    }
}
