using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qemu.States;
using ColoPS.Qmp;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>What a QEMU still holds that a failover or a roll-back must take into account. Read-only QMP.</summary>
    internal static class QemuReadings
    {
        /// <summary>
        /// The quorum's name for a child node. The names are not stable across failovers
        /// (children.1 may be gone), so the block graph is read: backend colo-disk0 -> quorum -> children.
        /// </summary>
        public static async Task<string?> QuorumChildAsync(QmpSession session, string nodeName, CancellationToken ct)
        {
            var graph = await session.ExecuteAsync("x-debug-query-block-graph", null, ct).ConfigureAwait(false);
            var nodes = graph.GetProperty("nodes").EnumerateArray().ToDictionary(n => n.GetProperty("id").GetInt64(), n => n);
            var edges = graph.GetProperty("edges").EnumerateArray().ToList();
            var backend = nodes.Values.FirstOrDefault(n => Json.Str(n, "type") == "block-backend" && Json.Str(n, "name") == Ids.Disk);
            if (backend.ValueKind == JsonValueKind.Undefined) return null;
            var root = edges.FirstOrDefault(e => e.GetProperty("parent").GetInt64() == backend.GetProperty("id").GetInt64());
            if (root.ValueKind == JsonValueKind.Undefined) return null;
            long quorum = root.GetProperty("child").GetInt64();
            foreach (var e in edges.Where(e => e.GetProperty("parent").GetInt64() == quorum))
            {
                if (nodes.TryGetValue(e.GetProperty("child").GetInt64(), out var child) && Json.Str(child, "name") == nodeName)
                    return Json.Str(e, "name");
            }
            return null;
        }

        /// <summary>The yank instances of the links to the peer: the migration, the NBD client's block node, and the named chardevs.</summary>
        public static async Task<IReadOnlyList<JsonObject>> YankTargetsAsync(QmpSession session, IReadOnlyCollection<string> peerChardevs, CancellationToken ct)
        {
            // yank needs QEMU 6.0 and oob; without them the failover runs without it.
            if (!session.OobEnabled) return Array.Empty<JsonObject>();
            JsonElement instances;
            // Out of band like the yank itself: an in-band command stuck on the dead peer must not hold it up.
            try { instances = await session.ExecuteAsync("query-yank", null, new QmpCallOptions { OutOfBand = true }, ct).ConfigureAwait(false); }
            catch (QmpCommandException) { return Array.Empty<JsonObject>(); }
            var list = new List<JsonObject>();
            foreach (var i in instances.EnumerateArray())
            {
                string? type = Json.Str(i, "type");
                if (type == "migration") list.Add(new JsonObject { ["type"] = "migration" });
                // Only NBD clients register block-node yank instances; on a primary that is the
                // replication link to the secondary, which deleting the node would otherwise wait on.
                else if (type == "block-node") list.Add(new JsonObject { ["type"] = "block-node", ["node-name"] = Json.Str(i, "node-name") });
                else if (type == "chardev" && peerChardevs.Contains(Json.Str(i, "id")))
                    list.Add(new JsonObject { ["type"] = "chardev", ["id"] = Json.Str(i, "id") });
            }
            return list;
        }

        /// <summary>What a survivor still holds of its COLO role (see <see cref="FailoverLeftOver"/>).</summary>
        public static async Task<FailoverLeftOver> FailoverLeftOverAsync(QmpSession s, CancellationToken ct)
            => (await FailoverLeftOverWithChardevsAsync(s, ct).ConfigureAwait(false)).Left;

        /// <summary>The same, with the query-chardev answer it was read from (a resume also needs each socket's ends).</summary>
        public static async Task<(FailoverLeftOver Left, JsonElement Chardevs)> FailoverLeftOverWithChardevsAsync(QmpSession s, CancellationToken ct)
        {
            var colo = await s.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
            string? child = await QuorumChildAsync(s, Ids.ReplicationNode, ct).ConfigureAwait(false);
            var nodes = Json.Names(await s.ExecuteAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, ct).ConfigureAwait(false), "node-name");
            var exports = await s.ExecuteAsync("query-block-exports", null, ct).ConfigureAwait(false);
            bool nbd = exports.EnumerateArray().Any(e => Json.Str(e, "type") == "nbd");
            var objects = Json.Names(await s.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/objects" }, ct).ConfigureAwait(false), "name");
            var chardevReply = await s.ExecuteAsync("query-chardev", null, ct).ConfigureAwait(false);
            var left = new FailoverLeftOver(ColoMode.Parse(Json.Str(colo, "mode")), child, nodes.Contains(Ids.ReplicationNode), nbd, objects, Json.Names(chardevReply, "label"));
            return (left, chardevReply);
        }

        /// <summary>What a failed start or resume left on a QEMU that still answers: its link to the secondary and its run state.</summary>
        public static async Task<ColoLeftOver> LeftOverAsync(QmpSession s, CancellationToken ct)
        {
            var jobs = await s.ExecuteAsync("query-block-jobs", null, ct).ConfigureAwait(false);
            bool mirror = jobs.EnumerateArray().Any(j => Json.Str(j, "device") == ColoPlans.MirrorJob);
            string? child = await QuorumChildAsync(s, Ids.ReplicationNode, ct).ConfigureAwait(false);
            // Only the link to the new secondary: a survivor that was a secondary still has its own chardevs.
            var yank = (await YankTargetsAsync(s, Array.Empty<string>(), ct).ConfigureAwait(false)).Where(y => (string?)y["type"] == "block-node").ToList();
            var run = RunState.Parse(Json.Str(await s.ExecuteAsync("query-status", null, ct).ConfigureAwait(false), "status"));
            var objects = Json.Names(await s.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/objects" }, ct).ConfigureAwait(false), "name");
            var chardevs = Json.Names(await s.ExecuteAsync("query-chardev", null, ct).ConfigureAwait(false), "label");
            return new ColoLeftOver(mirror, child, yank, run, objects, chardevs);
        }
    }

    /// <summary>What a QEMU still holds after a failed start or resume.</summary>
    /// <param name="RunState">prelaunch counts as paused: a caller's QEMU started with -S that never ran.</param>
    public sealed record ColoLeftOver(bool MirrorJob, string? ReplicationChild, IReadOnlyList<JsonObject> Yank, RunState RunState,
        IReadOnlyCollection<string> Objects, IReadOnlyCollection<string> Chardevs)
    {
        public bool Paused => RunState.IsPaused;
    }
}
