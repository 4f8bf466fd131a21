using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using ColoPS.Qemu.States;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo
{
    /// <summary>
    /// What a survivor still holds of its COLO role, as far as a failover is concerned. Read from
    /// QEMU, so a failover that was cut short (its guard killed between two steps) is finished from
    /// where it stopped, not started again on steps that no longer apply.
    /// </summary>
    /// <param name="Mode">query-colo-status mode now: x-colo-lost-heartbeat is sent only while it is in COLO.</param>
    /// <param name="ReplicationChild">The quorum's child name of replication0 while it is attached.</param>
    /// <param name="ReplicationNode">replication0 exists (attached or not).</param>
    /// <param name="NbdExport">The secondary's NBD server still exports a disk.</param>
    public sealed record FailoverLeftOver(ColoMode Mode, string? ReplicationChild, bool ReplicationNode, bool NbdExport,
        IReadOnlyCollection<string> Objects, IReadOnlyCollection<string> Chardevs)
    {
        private static readonly string[] s_primaryChardevs = { Ids.Mirror, Ids.Compare, Ids.CompareIn, Ids.CompareInClient, Ids.CompareOut, Ids.CompareOutClient };

        /// <summary>A secondary in COLO as Start-ColoSecondary made it.</summary>
        public static FailoverLeftOver FullSecondary { get; } = new(ColoMode.Secondary, null, false, true,
            new[] { Ids.SecondaryRedirectorIn, Ids.SecondaryRedirectorOut, Ids.Rewriter }, new[] { Ids.SecondaryMirrorChardev, Ids.SecondaryCompareChardev });

        /// <summary>A primary in COLO as Start-ColoPrimary (or a resume) made it.</summary>
        public static FailoverLeftOver FullPrimary(string replicationChild) => new(ColoMode.Primary, replicationChild, true, false,
            new[] { Ids.FilterMirror, Ids.RedirectorIn, Ids.RedirectorOut, Ids.IoThread, Ids.CompareObject }, s_primaryChardevs);

        /// <summary>Anything of the secondary's role is left: its takeover is under way or was cut short.</summary>
        public bool FromSecondary => Mode == ColoMode.Secondary || NbdExport
            || Objects.Contains(Ids.SecondaryRedirectorIn) || Objects.Contains(Ids.SecondaryRedirectorOut)
            || Chardevs.Contains(Ids.SecondaryMirrorChardev) || Chardevs.Contains(Ids.SecondaryCompareChardev);

        /// <summary>Nothing is left to do: the node runs alone with a primary's chardevs, ready for a resume.</summary>
        public bool IsFinished(ColoConfig config, ColoSite site) => ColoPlans.FailoverRemainder(config, site, this, System.Array.Empty<JsonObject>()).Steps.Count == 0;
    }

    public static partial class ColoPlans
    {
        /// <summary>
        /// The failover steps that are still to do on a survivor in the state <paramref name="left"/>
        /// describes. For a whole primary or secondary in COLO this is the procedure's "Primary
        /// Failover" or "Secondary Failover"; after any prefix of those ran it is the rest of them, so
        /// running it again (or after a crash) is safe. An empty plan means the failover is done.
        /// </summary>
        public static ColoPlan FailoverRemainder(ColoConfig config, ColoSite survivor, FailoverLeftOver left, IReadOnlyList<JsonObject> yankInstances)
        {
            var self = config.GetSite(survivor);
            var p = config.Ports;
            var steps = new List<ColoStep>();
            if (yankInstances.Count > 0) steps.Add(Yank(yankInstances));
            // The primary's half: the replication link and the COLO objects go before it leaves COLO.
            if (left.ReplicationChild != null) steps.Add(DetachReplicationChild(left.ReplicationChild));
            if (left.ReplicationNode) steps.Add(DeleteReplicationNode());
            steps.AddRange(PrimaryObjects.Where(left.Objects.Contains).Select(ObjectDel));
            // The secondary's half: stop serving the disk, take over, then swap its chardevs for a primary's.
            if (left.NbdExport) steps.Add(ColoStep.Qmp("nbd-server-stop", null, "Stop serving the disk to the dead primary"));
            if (left.Mode.InColo)
            {
                steps.Add(ColoStep.Qmp("x-colo-lost-heartbeat", null, left.Mode == ColoMode.Secondary ? "Take over: leave COLO and run the VM here" : "Leave COLO and run alone"));
                steps.Add(ColoStep.Wait(ColoStepKind.WaitForColoExit, "Wait until COLO mode is none"));
            }
            foreach (var id in new[] { Ids.SecondaryRedirectorOut, Ids.SecondaryRedirectorIn })
                if (left.Objects.Contains(id)) steps.Add(ObjectDel(id));
            if (left.Chardevs.Contains(Ids.SecondaryCompareChardev))
                steps.Add(ColoStep.Qmp("chardev-remove", new JsonObject { ["id"] = Ids.SecondaryCompareChardev }, "Drop the link to the dead primary's compare port"));
            if (left.Chardevs.Contains(Ids.SecondaryMirrorChardev))
                steps.Add(ColoStep.Qmp("chardev-remove", new JsonObject { ["id"] = Ids.SecondaryMirrorChardev }, "Drop the link to the dead primary's mirror port"));
            // The chardevs a primary has, so this node can become the primary of a new pair.
            var wanted = PeerSockets(config, survivor).Concat(CompareLoops(config, survivor));
            steps.AddRange(wanted.Where(step => !left.Chardevs.Contains((string)step.Arguments!["id"]!)));
            return new ColoPlan(left.FromSecondary ? "Secondary failover" : "Primary failover", config.Name + "-" + survivor, steps);
        }
    }
}
