using System;
using System.Collections.Generic;

namespace ColoPS.Qmp
{
    /// <summary>
    /// Where one caller's next default event wait starts: after the caller's last command, skipping
    /// the events its earlier waits already returned.
    /// </summary>
    /// <remarks>
    /// QEMU often sends the event a command causes before the command's reply (stop → STOP), so a
    /// wait that starts after the command returns must look back to the moment the command was
    /// sent. Events from before that moment belong to an earlier command and are never returned by
    /// default. Each returned event is taken, so waiting twice for the same name wants two events,
    /// as PowerShell's Wait-Event and Remove-Event would.
    /// </remarks>
    public sealed class QmpEventCursor
    {
        private readonly object _gate = new object();
        private readonly HashSet<long> _taken = new HashSet<long>();
        private long _mark;

        /// <param name="mark">The sequence number after which events count: 0 for all of a new session's events.</param>
        public QmpEventCursor(long mark)
        {
            _mark = mark;
        }

        /// <summary>Events numbered up to this one are before the caller's last command.</summary>
        public long Mark { get { lock (_gate) return _mark; } }

        /// <summary>Call with the session's LastEventSequence read just before sending a command.</summary>
        public void CommandSent(long lastEventSequence)
        {
            lock (_gate)
            {
                if (lastEventSequence < _mark) return;
                _mark = lastEventSequence;
                _taken.Clear();
            }
        }

        /// <summary>The default wait's filter: <paramref name="match"/> and not returned by an earlier wait.</summary>
        public Func<QmpEvent, bool> Untaken(Func<QmpEvent, bool> match)
            => e => match(e) && !IsTaken(e.Sequence);

        /// <summary>Records that a wait returned this event, so that later default waits skip it.</summary>
        public void Take(QmpEvent evt)
        {
            if (evt == null) throw new ArgumentNullException(nameof(evt));
            lock (_gate)
            {
                if (evt.Sequence > _mark) _taken.Add(evt.Sequence);
            }
        }

        private bool IsTaken(long sequence)
        {
            lock (_gate) return _taken.Contains(sequence);
        }
    }
}
