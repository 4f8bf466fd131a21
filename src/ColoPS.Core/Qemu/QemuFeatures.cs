using System;
using ColoPS.Colo;

namespace ColoPS.Qemu
{
    /// <summary>How a QEMU version behaves at a COLO checkpoint under TCG (KVM checkpoints on every supported version).</summary>
    public enum TcgCheckpointBehavior
    {
        Works,
        /// <summary>7.2 and 10.0 (10.1 has the same code and is taken as such): the primary deadlocks at its first checkpoint.</summary>
        Hangs,
        /// <summary>10.2: an assertion in the same path aborts the primary.</summary>
        Aborts,
    }

    /// <summary>
    /// What a QEMU version can do and how it must be driven in a COLO pair: every version
    /// difference ColoPS knows is decided here, from the binary's version, and nowhere else.
    /// </summary>
    public sealed class QemuFeatures
    {
        private QemuFeatures(QemuVersion version) => Version = version;

        public static QemuFeatures Of(QemuVersion version) => new QemuFeatures(version ?? throw new ArgumentNullException(nameof(version)));

        public QemuVersion Version { get; }

        /// <summary>9.2 renamed the socket chardev's reconnect option (seconds) to reconnect-ms.</summary>
        public string ReconnectOption => Version.IsAtLeast(9, 2) ? "reconnect-ms=1000" : "reconnect=1";

        /// <summary>
        /// 11.0 refuses x-colo without return-path ("Capability 'x-colo' requires capability
        /// 'return-path'"); on 7.2 and 10.0 the two together end the migration 'failed'.
        /// </summary>
        public bool ColoNeedsReturnPath => Version.IsAtLeast(11, 0);

        /// <summary>
        /// 11.x warns that -mon is deprecated and makes a QMP monitor from -object monitor-qmp
        /// (seen on 11.1.3); 7.2 has no such object, so older versions keep -mon.
        /// </summary>
        public bool MonitorObjects => Version.IsAtLeast(11, 0);

        /// <summary>
        /// 10.0.0-10.0.6 and 10.1.0-10.1.2 end the primary's migration "completed" instead of
        /// entering COLO (upstream 48814111 "migration: Always set DEVICE state"; fixed by 0b5bf4ea
        /// "migration: Fix transition to COLO state from precopy" in 10.0.7, 10.1.3 and 10.2.0).
        /// </summary>
        public bool CanBePrimary => !(Version.Major == 10 && ((Version.Minor == 0 && Version.Micro <= 6) || (Version.Minor == 1 && Version.Micro <= 2)));

        /// <summary>The versions that cannot be a primary, as a user reads it in an error.</summary>
        public const string BrokenPrimaryVersions = "QEMU 10.0.0-10.0.6 and 10.1.0-10.1.2 (fixed in 10.0.7, 10.1.3 and 10.2.0 by upstream 0b5bf4ea, \"migration: Fix transition to COLO state from precopy\")";

        /// <summary>
        /// Before 11.0 the checkpoint sends the RAM state with the big lock released; under TCG the
        /// dirty-log sync in that path waits on the lock it no longer holds. 11.0 holds the lock
        /// across the send ("colo: Hold the BQL while sending ram state").
        /// </summary>
        public TcgCheckpointBehavior TcgCheckpoints
            => Version.IsAtLeast(11, 0) ? TcgCheckpointBehavior.Works
             : Version.IsAtLeast(10, 2) ? TcgCheckpointBehavior.Aborts
             : TcgCheckpointBehavior.Hangs;

        /// <summary>A warning for a pair about to run with this QEMU and accelerator; null when checkpoints work.</summary>
        public string? CheckpointWarning(ColoAccelerator accelerator)
        {
            if (accelerator != ColoAccelerator.Tcg || TcgCheckpoints == TcgCheckpointBehavior.Works) return null;
            string what = TcgCheckpoints == TcgCheckpointBehavior.Hangs ? "hangs (deadlocks)" : "aborts";
            return $"QEMU {Version} under TCG {what} the COLO primary at its first checkpoint: the pair is protected only until the outputs differ or the checkpoint interval ends. Use QEMU 11 or later for real protection under TCG (or KVM, where {Version} checkpoints).";
        }

        public void ThrowIfCannotBePrimary()
        {
            if (CanBePrimary) return;
            throw new ColoException("ColoQemuVersionUnsupported", ColoErrorKind.NotSupported,
                $"QEMU {Version} cannot be a COLO primary: its migration ends 'completed' instead of entering COLO. This affects {BrokenPrimaryVersions}. " +
                "Use QEMU 11 (or 7.2, 10.0.7, 10.1.3, 10.2), or -SkipVersionCheck to try anyway (the failed start is then detected).");
        }

        public override string ToString() => "QEMU " + Version;
    }
}
