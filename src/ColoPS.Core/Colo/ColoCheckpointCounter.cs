using System;
using System.Collections.Generic;
using System.Linq;
using ColoPS.Qmp;

namespace ColoPS.Colo
{
    /// <summary>A primary's checkpoints as counted from its session's events.</summary>
    public sealed class ColoCheckpointStatistics
    {
        /// <summary>Checkpoints made since COLO last started on this node (or since it was attached).</summary>
        public long Count { get; internal set; }
        /// <summary>When the counting began: the last start or resume of COLO, or the attach.</summary>
        public DateTimeOffset? Since { get; internal set; }
        /// <summary>When the last checkpoint began (its STOP).</summary>
        public DateTimeOffset? Last { get; internal set; }
        /// <summary>The VM's pause in the last checkpoint (STOP to RESUME).</summary>
        public TimeSpan? LastPause { get; internal set; }
        /// <summary>Median pause over the recent checkpoints (see <see cref="Window"/>).</summary>
        public TimeSpan? MedianPause { get; internal set; }
        /// <summary>Longest pause over the recent checkpoints.</summary>
        public TimeSpan? MaxPause { get; internal set; }
        /// <summary>How many recent checkpoints the median and the maximum are taken over.</summary>
        public int Window { get; internal set; }
        /// <summary>True while a checkpoint runs: STOP seen, RESUME not yet.</summary>
        public bool InProgress { get; internal set; }

        public override string ToString()
            => Count == 0 ? "no checkpoint yet" : $"{Count} checkpoints, last {Last:HH:mm:ss} (pause {LastPause?.TotalMilliseconds:0} ms, median {MedianPause?.TotalMilliseconds:0} ms, max {MaxPause?.TotalMilliseconds:0} ms)";
    }

    /// <summary>
    /// Counts a COLO primary's checkpoints. QMP has no checkpoint counter: a checkpoint shows as a
    /// STOP and a RESUME of the primary's VM. Fed the session's events in order; the session's
    /// history is bounded, so the node feeds it live instead of reading the history at status time.
    /// </summary>
    public sealed class ColoCheckpointCounter
    {
        /// <summary>Pauses kept for the median and the maximum.</summary>
        public const int Window = 128;

        private readonly object _gate = new object();
        private readonly Queue<TimeSpan> _pauses = new Queue<TimeSpan>();
        private long _count;
        // Nothing counts until COLO starts on the node (Restart).
        private long _countFrom = long.MaxValue;
        private DateTimeOffset? _since;
        private DateTimeOffset? _stopAt;
        private DateTimeOffset? _last;
        private TimeSpan? _lastPause;

        /// <summary>Counts afresh from the first event after <paramref name="afterSequence"/>: COLO (re)started there.</summary>
        public void Restart(long afterSequence, DateTimeOffset at)
        {
            lock (_gate)
            {
                _countFrom = afterSequence;
                _since = at;
                _count = 0;
                _stopAt = null;
                _last = null;
                _lastPause = null;
                _pauses.Clear();
            }
        }

        public void Observe(QmpEvent e)
        {
            lock (_gate)
            {
                if (e.Sequence <= _countFrom) return;
                var at = e.Timestamp ?? e.ReceivedAt;
                switch (e.Name)
                {
                    case "STOP":
                        _stopAt = at;
                        break;
                    case "RESUME" when _stopAt.HasValue:
                        var pause = at - _stopAt.Value;
                        if (pause < TimeSpan.Zero) pause = TimeSpan.Zero;
                        _count++;
                        _last = _stopAt;
                        _lastPause = pause;
                        _pauses.Enqueue(pause);
                        if (_pauses.Count > Window) _pauses.Dequeue();
                        _stopAt = null;
                        break;
                }
            }
        }

        public ColoCheckpointStatistics Read()
        {
            lock (_gate)
            {
                var sorted = _pauses.OrderBy(p => p).ToList();
                return new ColoCheckpointStatistics
                {
                    Count = _count,
                    Since = _since,
                    Last = _last,
                    LastPause = _lastPause,
                    MedianPause = sorted.Count == 0 ? null : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : TimeSpan.FromTicks((sorted[sorted.Count / 2 - 1].Ticks + sorted[sorted.Count / 2].Ticks) / 2),
                    MaxPause = sorted.Count == 0 ? null : sorted[sorted.Count - 1],
                    Window = sorted.Count,
                    InProgress = _stopAt.HasValue,
                };
            }
        }
    }
}
