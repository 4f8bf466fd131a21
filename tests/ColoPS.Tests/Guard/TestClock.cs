using System;

namespace ColoPS.Tests.Guard
{
    /// <summary>A clock the test moves by hand; only the monotonic timestamp matters to lease timing.</summary>
    public sealed class TestClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
