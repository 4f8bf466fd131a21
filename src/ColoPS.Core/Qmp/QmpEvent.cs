using System;
using System.Text.Json;

namespace ColoPS.Qmp
{
    /// <summary>An asynchronous event from QEMU, numbered in the order the session received it.</summary>
    public sealed class QmpEvent
    {
        private readonly long _receivedUtcTicks;

        internal QmpEvent(QmpSession? session, long sequence, string name, JsonElement? data, long seconds, long microseconds, DateTimeOffset receivedAt)
            : this(session, sequence, name, data, seconds, microseconds, receivedAt.UtcDateTime)
        {
        }

        // The reader stamps each event with the UTC clock: the local offset is looked up only when
        // someone reads ReceivedAt, not 100,000 times in an event flood.
        internal QmpEvent(QmpSession? session, long sequence, string name, JsonElement? data, long seconds, long microseconds, DateTime receivedAtUtc)
        {
            Session = session;
            Sequence = sequence;
            Name = name;
            Data = data;
            Seconds = seconds;
            Microseconds = microseconds;
            _receivedUtcTicks = receivedAtUtc.Ticks;
        }

        /// <summary>Position in the session's event stream, from 1, without gaps (discarded history keeps its numbers).</summary>
        public long Sequence { get; internal set; }
        public string Name { get; }

        /// <summary>When QEMU raised the event. Null when QEMU could not read the host clock (it sends -1/-1 then).</summary>
        public DateTimeOffset? Timestamp => ToTimestamp(Seconds, Microseconds);

        /// <summary>The event's data member, absent for events that carry none.</summary>
        public JsonElement? Data { get; }
        public long Seconds { get; }
        public long Microseconds { get; }
        public DateTimeOffset ReceivedAt => new DateTimeOffset(_receivedUtcTicks, TimeSpan.Zero).ToLocalTime();
        public QmpSession? Session { get; }

        internal static DateTimeOffset? ToTimestamp(long seconds, long microseconds)
        {
            if (seconds < 0 || microseconds < 0) return null;
            // 1 microsecond = 10 ticks; exact, no floating point.
            return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(microseconds * 10);
        }

        public override string ToString() => $"#{Sequence} {Name}";
    }
}
