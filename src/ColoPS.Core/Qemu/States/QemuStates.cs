using System;
using System.Collections.Generic;

namespace ColoPS.Qemu.States
{
    /// <summary>
    /// A state name QEMU reports (a run state, a migration status...), parsed once where the reply
    /// is read. A name this version of ColoPS does not know stays visible as it is (IsKnown false)
    /// instead of failing the read: a newer QEMU may add states.
    /// </summary>
    public abstract class QemuStateName<T> : IEquatable<T> where T : QemuStateName<T>
    {
        private static readonly Dictionary<string, T> s_known = new Dictionary<string, T>(StringComparer.Ordinal);

        protected QemuStateName(string name, bool known)
        {
            Name = name;
            IsKnown = known;
        }

        /// <summary>QEMU's own spelling, e.g. "running".</summary>
        public string Name { get; }
        public bool IsKnown { get; }

        protected static T Known(T value)
        {
            lock (s_known) s_known[value.Name] = value;
            return value;
        }

        protected static T Lookup(string name, Func<string, T> unknown)
        {
            lock (s_known) return s_known.TryGetValue(name, out var v) ? v : unknown(name);
        }

        public bool Equals(T? other) => other is not null && string.Equals(Name, other.Name, StringComparison.Ordinal);
        public override bool Equals(object? obj) => obj is T t ? Equals(t) : obj is string s && string.Equals(Name, s, StringComparison.Ordinal);
        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);
        public override string ToString() => Name;

        public static bool operator ==(QemuStateName<T>? a, QemuStateName<T>? b) => a is null ? b is null : b is not null && string.Equals(a.Name, b.Name, StringComparison.Ordinal);
        public static bool operator !=(QemuStateName<T>? a, QemuStateName<T>? b) => !(a == b);
    }

    /// <summary>query-status "status" (QAPI RunState).</summary>
    public sealed class RunState : QemuStateName<RunState>
    {
        private RunState(string name, bool known = true) : base(name, known) { }

        // An explicit static constructor: Parse must see the known values registered, and without
        // one the runtime may run Parse before the field initializers that register them.
        static RunState() { }

        public static readonly RunState Running = Known(new RunState("running"));
        public static readonly RunState Paused = Known(new RunState("paused"));
        public static readonly RunState Prelaunch = Known(new RunState("prelaunch"));
        public static readonly RunState InMigrate = Known(new RunState("inmigrate"));
        public static readonly RunState PostMigrate = Known(new RunState("postmigrate"));
        public static readonly RunState FinishMigrate = Known(new RunState("finish-migrate"));
        /// <summary>A COLO secondary between checkpoints (QEMU 11 reports it; 7.2 says running).</summary>
        public static readonly RunState Colo = Known(new RunState("colo"));
        public static readonly RunState Shutdown = Known(new RunState("shutdown"));
        public static readonly RunState InternalError = Known(new RunState("internal-error"));
        public static readonly RunState IoError = Known(new RunState("io-error"));

        /// <summary>The VM is held by a migration or a stop and will not run by itself.</summary>
        public bool IsPaused => this == Paused || this == PostMigrate || this == Prelaunch;

        public static RunState Parse(string? name) => name is null ? Unknown : Lookup(name, n => new RunState(n, known: false));
        public static readonly RunState Unknown = new RunState("unknown", known: false);
    }

    /// <summary>query-migrate "status" (QAPI MigrationStatus); none when QEMU reports no migration.</summary>
    public sealed class MigrationStatus : QemuStateName<MigrationStatus>
    {
        private MigrationStatus(string name, bool known = true) : base(name, known) { }

        // An explicit static constructor: Parse must see the known values registered, and without
        // one the runtime may run Parse before the field initializers that register them.
        static MigrationStatus() { }

        public static readonly MigrationStatus None = Known(new MigrationStatus("none"));
        public static readonly MigrationStatus Setup = Known(new MigrationStatus("setup"));
        public static readonly MigrationStatus Active = Known(new MigrationStatus("active"));
        public static readonly MigrationStatus Device = Known(new MigrationStatus("device"));
        public static readonly MigrationStatus PreSwitchover = Known(new MigrationStatus("pre-switchover"));
        public static readonly MigrationStatus WaitUnplug = Known(new MigrationStatus("wait-unplug"));
        public static readonly MigrationStatus Colo = Known(new MigrationStatus("colo"));
        public static readonly MigrationStatus Completed = Known(new MigrationStatus("completed"));
        public static readonly MigrationStatus Failed = Known(new MigrationStatus("failed"));
        public static readonly MigrationStatus Cancelled = Known(new MigrationStatus("cancelled"));
        public static readonly MigrationStatus Cancelling = Known(new MigrationStatus("cancelling"));

        /// <summary>Still on its way into COLO (or into the end of a plain migration).</summary>
        public bool IsUnderWay => this == Setup || this == Active || this == Device || this == PreSwitchover || this == WaitUnplug;

        public static MigrationStatus Parse(string? name) => name is null ? None : Lookup(name, n => new MigrationStatus(n, known: false));
    }

    /// <summary>query-colo-status "mode" and "last-mode" (QAPI COLOMode).</summary>
    public sealed class ColoMode : QemuStateName<ColoMode>
    {
        private ColoMode(string name, bool known = true) : base(name, known) { }

        // An explicit static constructor: Parse must see the known values registered, and without
        // one the runtime may run Parse before the field initializers that register them.
        static ColoMode() { }

        public static readonly ColoMode None = Known(new ColoMode("none"));
        public static readonly ColoMode Primary = Known(new ColoMode("primary"));
        public static readonly ColoMode Secondary = Known(new ColoMode("secondary"));

        public bool InColo => this == Primary || this == Secondary;

        public static ColoMode Parse(string? name) => name is null ? None : Lookup(name, n => new ColoMode(n, known: false));
    }

    /// <summary>Why COLO last ended: query-colo-status "reason" and COLO_EXIT's reason (QAPI COLOExitReason).</summary>
    public sealed class ColoExitReason : QemuStateName<ColoExitReason>
    {
        private ColoExitReason(string name, bool known = true) : base(name, known) { }

        // An explicit static constructor: Parse must see the known values registered, and without
        // one the runtime may run Parse before the field initializers that register them.
        static ColoExitReason() { }

        public static readonly ColoExitReason None = Known(new ColoExitReason("none"));
        public static readonly ColoExitReason Request = Known(new ColoExitReason("request"));
        public static readonly ColoExitReason Error = Known(new ColoExitReason("error"));
        public static readonly ColoExitReason Processing = Known(new ColoExitReason("processing"));

        public static ColoExitReason Parse(string? name) => name is null ? None : Lookup(name, n => new ColoExitReason(n, known: false));
    }

    /// <summary>query-block-jobs "status" (QAPI JobStatus).</summary>
    public sealed class BlockJobStatus : QemuStateName<BlockJobStatus>
    {
        private BlockJobStatus(string name, bool known = true) : base(name, known) { }

        // An explicit static constructor: Parse must see the known values registered, and without
        // one the runtime may run Parse before the field initializers that register them.
        static BlockJobStatus() { }

        public static readonly BlockJobStatus Created = Known(new BlockJobStatus("created"));
        public static readonly BlockJobStatus Running = Known(new BlockJobStatus("running"));
        public static readonly BlockJobStatus Paused = Known(new BlockJobStatus("paused"));
        public static readonly BlockJobStatus Ready = Known(new BlockJobStatus("ready"));
        public static readonly BlockJobStatus Standby = Known(new BlockJobStatus("standby"));
        public static readonly BlockJobStatus Waiting = Known(new BlockJobStatus("waiting"));
        public static readonly BlockJobStatus Pending = Known(new BlockJobStatus("pending"));
        public static readonly BlockJobStatus Aborting = Known(new BlockJobStatus("aborting"));
        public static readonly BlockJobStatus Concluded = Known(new BlockJobStatus("concluded"));
        public static readonly BlockJobStatus Null = Known(new BlockJobStatus("null"));

        public static BlockJobStatus Parse(string? name) => name is null ? Null : Lookup(name, n => new BlockJobStatus(n, known: false));
    }
}
