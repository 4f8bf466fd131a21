using System;
using ColoPS.Qemu.States;

namespace ColoPS.Colo
{
    /// <summary>What an operator can act on, derived from QEMU's own state.</summary>
    public enum ColoProtection
    {
        /// <summary>COLO runs: the VM survives the loss of either side.</summary>
        Protected,
        /// <summary>Protection is being set up (migration under way, secondary waiting for it).</summary>
        Starting,
        /// <summary>The VM runs alone: resume replication to protect it.</summary>
        Unprotected,
        /// <summary>COLO broke (peer lost, migration ended without COLO): fail over or restart.</summary>
        Failed,
        /// <summary>This side does not answer: process gone, frozen or QMP broken.</summary>
        Down,
    }

    /// <summary>One side of a pair as read at ReadAt.</summary>
    public sealed class ColoStatus
    {
        public string NodeName { get; internal set; } = string.Empty;
        public ColoSite? Site { get; internal set; }
        public ColoRole? Role { get; internal set; }
        public ColoProtection Protection { get; internal set; }
        public bool Alive { get; internal set; }
        /// <summary>query-colo-status mode: none, primary or secondary.</summary>
        public ColoMode? Mode { get; internal set; }
        public ColoMode? LastMode { get; internal set; }
        /// <summary>Why COLO last ended: none, request, error or processing.</summary>
        public ColoExitReason? Reason { get; internal set; }
        /// <summary>query-migrate status (colo while protected).</summary>
        public MigrationStatus? MigrationStatus { get; internal set; }
        /// <summary>query-status run state (running, paused, inmigrate, postmigrate...).</summary>
        public RunState? RunState { get; internal set; }
        public int? ProcessId { get; internal set; }
        /// <summary>Why the side is Down or Failed, in words.</summary>
        public string? Message { get; internal set; }
        public DateTimeOffset ReadAt { get; internal set; }

        /// <summary>A primary's checkpoints since COLO last started on it (or since it was attached); null on other roles.</summary>
        public ColoCheckpointStatistics? Checkpoints { get; internal set; }

        /// <summary>Checkpoints.Count, for tables and sorting; null when not a primary.</summary>
        public long? CheckpointCount => Checkpoints?.Count;

        /// <summary>The links to the peer and whether QEMU runs each over TLS; empty when the side is Down.</summary>
        public System.Collections.Generic.IReadOnlyList<ColoLink> Links { get; internal set; } = System.Array.Empty<ColoLink>();

        public override string ToString() => $"{NodeName}: {Protection} (mode {Mode?.Name ?? "?"}, migration {MigrationStatus?.Name ?? "?"}, {RunState?.Name ?? "?"})";
    }
}
