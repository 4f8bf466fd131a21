using System;

namespace ColoPS.Qmp
{
    /// <summary>Knobs of one QMP session. Defaults suit a local QEMU.</summary>
    public sealed class QmpSessionOptions
    {
        /// <summary>Largest single message accepted from QEMU. query-qmp-schema is a few hundred KiB; HMP output can be large.</summary>
        public const int DefaultMaxMessageBytes = 16 * 1024 * 1024;

        /// <summary>Events kept per session; older ones are discarded first and counted in DiscardedEventCount.</summary>
        public const int DefaultEventHistoryCapacity = 1024;

        /// <summary>QEMU queues at most 8 in-band requests when OOB is on, then stops reading (QMP_REQ_QUEUE_LEN_MAX).</summary>
        public const int DefaultMaxInBandInFlight = 8;

        public string? Name { get; set; }
        public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
        public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);
        public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;
        public int EventHistoryCapacity { get; set; } = DefaultEventHistoryCapacity;
        public int MaxInBandInFlight { get; set; } = DefaultMaxInBandInFlight;

        /// <summary>Ask for the oob capability when QEMU offers it.</summary>
        public bool EnableOob { get; set; } = true;

        /// <summary>Receives diagnostics (dropped replies, discarded events, raw traffic at Trace level). Called on the reader thread: keep it quick.</summary>
        public Action<QmpLogRecord>? Log { get; set; }

        internal QmpSessionOptions Validate()
        {
            if (ConnectTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), "The connect timeout must be positive.");
            if (CommandTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CommandTimeout), "The command timeout must be positive.");
            if (MaxMessageBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxMessageBytes), "The message size cap must be at least 1024 bytes.");
            if (EventHistoryCapacity < 1) throw new ArgumentOutOfRangeException(nameof(EventHistoryCapacity), "The event history holds at least one event.");
            if (MaxInBandInFlight < 1) throw new ArgumentOutOfRangeException(nameof(MaxInBandInFlight), "At least one in-band command must be allowed in flight.");
            return this;
        }
    }
}
