using System;
using System.Collections.Generic;

namespace ColoPS.Guard
{
    /// <summary>One decision of a guard, as written to the pipeline, the JSON-lines log and the state file.</summary>
    public sealed record GuardRecord
    {
        public DateTimeOffset Time { get; init; }
        public string Pair { get; init; } = "";
        public string Site { get; init; } = "";
        /// <summary>The guard's process, so a reader of the state file can tell a guard that is gone.</summary>
        public int GuardProcessId { get; init; }
        public int? QemuProcessId { get; init; }
        public string Input { get; init; } = "";
        public string Own { get; init; } = "";
        public string Peer { get; init; } = "";
        public string Witness { get; init; } = "";
        public string Lease { get; init; } = "";
        public string Standing { get; init; } = "";
        public IReadOnlyList<string> Actions { get; init; } = Array.Empty<string>();
        public string Reason { get; init; } = "";
        /// <summary>What each action did, in order (or why it did not run).</summary>
        public IReadOnlyList<string> Outcomes { get; init; } = Array.Empty<string>();
        /// <summary>The words behind the inputs: own QEMU, peer, witness.</summary>
        public string Detail { get; init; } = "";
        /// <summary>The epoch this side knows as its own, and the witness's.</summary>
        public long MyEpoch { get; init; }
        public long WitnessEpoch { get; init; }
        /// <summary>True when the guard cannot fail over automatically (witness unreachable, fencing failed, stale).</summary>
        public bool Warning { get; init; }

        public override string ToString() => $"{Time:HH:mm:ss.fff} {Site} {(Actions.Count == 0 ? "wait" : string.Join(",", Actions))}: {Reason}";
    }
}
