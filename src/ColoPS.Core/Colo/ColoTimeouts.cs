using System;

namespace ColoPS.Colo
{
    /// <summary>
    /// How long each kind of wait may take: the one place an operation takes its limits from.
    /// The first five follow the cmdlets' -TimeoutSec; the rest are short, fixed by what they wait
    /// for, and only tests change them.
    /// </summary>
    public sealed class ColoTimeouts
    {
        /// <summary>One QMP command.</summary>
        public TimeSpan Command { get; set; } = TimeSpan.FromSeconds(30);
        /// <summary>A migration into COLO, from migrate to both sides in COLO.</summary>
        public TimeSpan Migration { get; set; } = TimeSpan.FromMinutes(10);
        /// <summary>A full disk copy to a new secondary.</summary>
        public TimeSpan Mirror { get; set; } = TimeSpan.FromMinutes(60);
        /// <summary>The survivor leaving COLO after x-colo-lost-heartbeat.</summary>
        public TimeSpan Failover { get; set; } = TimeSpan.FromSeconds(30);
        /// <summary>A QEMU starting: the daemonizing parent's exit, then its QMP monitor's greeting.</summary>
        public TimeSpan Start { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>A killed process to be gone.</summary>
        public TimeSpan Kill { get; set; } = TimeSpan.FromSeconds(10);
        /// <summary>The peer's monitor answering a probe: a peer slower than that is treated as not answering.</summary>
        public TimeSpan PeerProbe { get; set; } = TimeSpan.FromSeconds(3);
        /// <summary>Each query of a status read.</summary>
        public TimeSpan StatusQuery { get; set; } = TimeSpan.FromSeconds(5);
        /// <summary>QEMU's answer to quit.</summary>
        public TimeSpan Quit { get; set; } = TimeSpan.FromSeconds(5);
        /// <summary>How long a QEMU that did not take the quit (frozen, hung) gets before it is killed.</summary>
        public TimeSpan UnresponsiveGrace { get; set; } = TimeSpan.FromMilliseconds(500);
        /// <summary>
        /// A new secondary connecting to a resuming survivor's fresh mirror and compare sockets: it
        /// dials them again every second, so this much means it will not (gone, or refused by TLS).
        /// </summary>
        public TimeSpan PeerConnect { get; set; } = TimeSpan.FromSeconds(30);
        /// <summary>Between two polls of QEMU's state.</summary>
        public TimeSpan Poll { get; set; } = TimeSpan.FromMilliseconds(50);

        /// <summary>A cmdlet's -TimeoutSec: the long waits get it whole, a single command at most 30 s.</summary>
        public static ColoTimeouts FromSeconds(int seconds)
        {
            var t = TimeSpan.FromSeconds(seconds);
            return new ColoTimeouts { Command = t < TimeSpan.FromSeconds(30) ? t : TimeSpan.FromSeconds(30), Migration = t, Mirror = t, Failover = t, Start = t };
        }
    }
}
