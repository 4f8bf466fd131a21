using System.Collections.Generic;
using System.Text.Json.Nodes;
using ColoPS.Qemu.States;

namespace ColoPS.Colo.Operations
{
    /// <summary>What the peer probe found.</summary>
    public sealed record PeerProbeResult(bool Answers, string State);

    /// <summary>What a failover will do, worked out from the survivor's state without changing anything.</summary>
    public sealed class FailoverPlan
    {
        internal FailoverPlan(ColoPlan plan, ColoRole fromRole, PeerProbeResult peer)
        {
            Plan = plan;
            FromRole = fromRole;
            Peer = peer;
        }

        public ColoPlan Plan { get; }
        public ColoRole FromRole { get; }
        public PeerProbeResult Peer { get; }
        public bool PeerAnswers => Peer.Answers;
        public string PeerState => Peer.State;
    }

    /// <summary>The failover's decisions, from what was read: which failover, and whether it may run at all.</summary>
    public static class FailoverDecision
    {
        /// <summary>
        /// The survivor's COLO role. When the secondary dies the primary may already have left COLO
        /// by itself (COLO_EXIT reason error); the procedure's clean-up still applies, so the last
        /// mode counts too, unless ColoPS already failed this node over (role Standalone).
        /// </summary>
        public static ColoRole RoleToFailOver(ColoNode survivor, QemuSnapshot snapshot)
        {
            var mode = snapshot.EffectiveMode;
            if (!mode.InColo || (!snapshot.Mode.InColo && survivor.Role == ColoRole.Standalone))
            {
                throw new ColoException("ColoNotProtected", ColoErrorKind.InvalidState,
                    $"{survivor.Name} is not in COLO (mode {snapshot.Mode}, role {survivor.Role}); there is nothing to fail over. Use Resume-ColoReplication to protect it.");
            }
            return mode == ColoMode.Secondary ? ColoRole.Secondary : ColoRole.Primary;
        }

        /// <summary>The procedure's plan for that role; a primary needs its replication child's real name.</summary>
        public static ColoPlan Plan(ColoNode survivor, ColoRole role, string? replicationChild, IReadOnlyList<JsonObject> yank)
        {
            if (role == ColoRole.Secondary) return ColoPlans.SecondaryFailover(survivor.Config, survivor.Site, yank);
            if (replicationChild == null)
            {
                throw new ColoException("ColoReplicationChildNotFound", ColoErrorKind.ObjectNotFound,
                    $"{survivor.Name} has no {Qemu.QemuCommandLine.Ids.ReplicationNode} child under {Qemu.QemuCommandLine.Ids.Disk}; replication is not attached.");
            }
            return ColoPlans.PrimaryFailover(survivor.Config, survivor.Site, replicationChild, yank);
        }

        /// <summary>A peer that still answers would leave two live copies of the VM: only a caller who fenced it may go on.</summary>
        public static void ThrowIfPeerAlive(ColoNode survivor, FailoverPlan plan, bool force)
        {
            if (!plan.PeerAnswers || force) return;
            throw new ColoException("ColoPeerStillAlive", ColoErrorKind.InvalidState,
                $"The peer of {survivor.Name} is alive: {plan.PeerState}. Failing over now would leave two running copies of the VM. Stop or fence the peer first, or use -Force.");
        }
    }
}
