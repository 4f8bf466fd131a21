using System;
using System.Collections.Generic;
using System.Linq;

namespace ColoPS.Guard
{
    /// <summary>One thing the guard does; a decision lists them in the order they must run.</summary>
    public enum GuardAction
    {
        /// <summary>Claim ownership of the next epoch on the witness (one compare-and-swap).</summary>
        Claim,
        /// <summary>Run the operator's fencing hook against the unreachable peer (power it off, cut its port).</summary>
        RunFencingHook,
        /// <summary>Leave COLO and run alone: x-colo-lost-heartbeat (Invoke-ColoFailover).</summary>
        FailOver,
        /// <summary>QMP announce-self, so switches learn the VM's MACs now live here.</summary>
        AnnounceSelf,
        /// <summary>Self-fence, reversible: QMP stop, so the VM sends nothing more.</summary>
        StopVm,
        /// <summary>Self-fence when QMP cannot be trusted to answer: kill own QEMU.</summary>
        KillQemu,
        /// <summary>Revoke this side's lease at once, so the peer need not wait out the TTL.</summary>
        ReleaseLease,
        /// <summary>Resume replication to the new secondary named by the epoch just claimed.</summary>
        Reprotect,
        /// <summary>Start a fresh secondary at this site for the peer that runs alone, and announce it on the witness.</summary>
        StartSecondary,
        /// <summary>Say so, loudly: the witness is unreachable and no automatic failover will happen.</summary>
        ReportWitnessUnreachable,
    }

    /// <summary>What the model decided on one tick, with the reason an operator reads in the log. No action means wait.</summary>
    public sealed record GuardDecision(IReadOnlyList<GuardAction> Actions, string Reason)
    {
        public static GuardDecision Wait(string reason) => new(Array.Empty<GuardAction>(), reason);

        public static GuardDecision Do(string reason, params GuardAction[] actions) => new(actions, reason);

        public bool DoesNothing => Actions.Count == 0;

        public bool Has(GuardAction action) => Actions.Contains(action);

        public bool SelfFences => Has(GuardAction.StopVm) || Has(GuardAction.KillQemu);

        public override string ToString() => (DoesNothing ? "wait" : string.Join(", ", Actions)) + ": " + Reason;
    }
}
