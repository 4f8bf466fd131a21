using System;

namespace ColoPS.Qmp
{
    /// <summary>Per-call settings of one command.</summary>
    public sealed class QmpCallOptions
    {
        /// <summary>How long to wait for the reply; the session's CommandTimeout when null.</summary>
        public TimeSpan? Timeout { get; set; }

        /// <summary>Send as exec-oob: QEMU runs it at once, ahead of queued in-band commands. Only for commands the schema marks allow-oob (yank, query-yank, migrate-pause...).</summary>
        public bool OutOfBand { get; set; }
    }
}
