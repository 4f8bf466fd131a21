using System;

namespace ColoPS.Witness
{
    /// <summary>How the guard's own lease stands, as far as this side can know without asking.</summary>
    public enum LeaseRenewal
    {
        /// <summary>This side holds no lease.</summary>
        None,
        /// <summary>The last renewal went through and the lease has more than the fencing margin left.</summary>
        Renewed,
        /// <summary>Renewals are failing but the lease still has more than the fencing margin left.</summary>
        FailingWithTimeLeft,
        /// <summary>The lease has the fencing margin or less left (or is already past its deadline).</summary>
        AboutToExpire,
    }

    /// <summary>
    /// Tracks a lease's deadline on this side's monotonic clock. The deadline counts from when a
    /// renewal was sent, not from when its answer came: the server restarted the TTL somewhere in
    /// between, so sent + TTL is never later than the server's own expiry, and a side that fences
    /// by that deadline fences before anyone else can claim the lease's epoch.
    /// </summary>
    public sealed class LeaseTimer
    {
        private readonly TimeProvider _clock;
        private readonly object _gate = new();
        private long _deadline;
        private bool _held;
        private bool _failing;

        public LeaseTimer(TimeProvider clock, TimeSpan fenceMargin)
        {
            if (fenceMargin < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(fenceMargin));
            _clock = clock ?? throw new ArgumentNullException(nameof(clock));
            FenceMargin = fenceMargin;
        }

        /// <summary>The time a self-fence needs (stop the VM, or kill QEMU), plus the clocks' drift over one TTL.</summary>
        public TimeSpan FenceMargin { get; }

        /// <summary>A timestamp to take just before a grant or renewal is sent.</summary>
        public long Now() => _clock.GetTimestamp();

        public void Granted(TimeSpan ttl, long sentTimestamp)
        {
            lock (_gate)
            {
                _held = true;
                _failing = false;
                _deadline = Add(sentTimestamp, ttl);
            }
        }

        public void Renewed(TimeSpan ttl, long sentTimestamp)
        {
            lock (_gate)
            {
                if (!_held) return;
                _failing = false;
                // A late answer to an older renewal must not pull the deadline back.
                _deadline = Math.Max(_deadline, Add(sentTimestamp, ttl));
            }
        }

        public void RenewalFailed()
        {
            lock (_gate) _failing = _held;
        }

        /// <summary>The lease is gone (revoked by us, or the server said it expired).</summary>
        public void Ended()
        {
            lock (_gate)
            {
                _held = false;
                _failing = false;
            }
        }

        /// <summary>Time left before the lease may expire on the server; zero when none is held.</summary>
        public TimeSpan Remaining
        {
            get
            {
                lock (_gate)
                {
                    if (!_held) return TimeSpan.Zero;
                    var left = _clock.GetElapsedTime(_clock.GetTimestamp(), _deadline);
                    // GetElapsedTime(start, end) is end - start: positive while the deadline is ahead.
                    return left > TimeSpan.Zero ? left : TimeSpan.Zero;
                }
            }
        }

        public LeaseRenewal State
        {
            get
            {
                lock (_gate)
                {
                    if (!_held) return LeaseRenewal.None;
                    var left = _clock.GetElapsedTime(_clock.GetTimestamp(), _deadline);
                    if (left <= FenceMargin) return LeaseRenewal.AboutToExpire;
                    return _failing ? LeaseRenewal.FailingWithTimeLeft : LeaseRenewal.Renewed;
                }
            }
        }

        private long Add(long timestamp, TimeSpan span) => timestamp + (long)(span.TotalSeconds * _clock.TimestampFrequency);
    }
}
