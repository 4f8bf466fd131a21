using System;
using ColoPS.Colo;
using ColoPS.Qmp;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>A primary's checkpoints read from its STOP/RESUME events, as QMP has no counter of its own.</summary>
    public class ColoCheckpointCounterTests
    {
        private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
        private long _seq;

        // QEMU's own timestamp (seconds, microseconds) is what the pause is measured on.
        private QmpEvent Event(string name, double atMs)
        {
            var at = T0.AddMilliseconds(atMs);
            long us = (at.ToUnixTimeMilliseconds() % 1000) * 1000;
            return new QmpEvent(null, ++_seq, name, null, at.ToUnixTimeSeconds(), us, at.AddMilliseconds(5));
        }

        [Fact]
        public void Counts_nothing_before_colo_starts()
        {
            var c = new ColoCheckpointCounter();
            c.Observe(Event("STOP", 0));
            c.Observe(Event("RESUME", 40));
            var s = c.Read();
            Assert.Equal(0, s.Count);
            Assert.Null(s.Since);
            Assert.Null(s.LastPause);
        }

        [Fact]
        public void Counts_stop_resume_pairs_after_the_mark_with_their_pauses()
        {
            var c = new ColoCheckpointCounter();
            c.Observe(Event("STOP", 0));       // the resume's own stop, before COLO started
            c.Observe(Event("RESUME", 900));   // COLO running: not a checkpoint
            c.Restart(_seq, T0.AddSeconds(1));
            c.Observe(Event("STOP", 2000));
            c.Observe(Event("RESUME", 2040));
            c.Observe(Event("STOP", 4000));
            c.Observe(Event("RESUME", 4100));
            c.Observe(Event("STOP", 6000));
            c.Observe(Event("RESUME", 6060));
            var s = c.Read();
            Assert.Equal(3, s.Count);
            Assert.Equal(T0.AddSeconds(1), s.Since);
            Assert.Equal(T0.AddMilliseconds(6000), s.Last);
            Assert.Equal(TimeSpan.FromMilliseconds(60), s.LastPause);
            Assert.Equal(TimeSpan.FromMilliseconds(60), s.MedianPause);
            Assert.Equal(TimeSpan.FromMilliseconds(100), s.MaxPause);
            Assert.Equal(3, s.Window);
            Assert.False(s.InProgress);
            Assert.StartsWith("3 checkpoints, last 08:00:06 (pause 60 ms, median 60 ms, max 100 ms)", s.ToString());
        }

        [Fact]
        public void A_stop_without_its_resume_is_a_checkpoint_in_progress_not_a_count()
        {
            var c = new ColoCheckpointCounter();
            c.Restart(0, T0);
            c.Observe(Event("STOP", 100));
            var s = c.Read();
            Assert.Equal(0, s.Count);
            Assert.True(s.InProgress);
            c.Observe(Event("RESUME", 180));
            Assert.Equal(1, c.Read().Count);
            Assert.False(c.Read().InProgress);
        }

        [Fact]
        public void A_resume_without_a_stop_is_not_counted_and_restart_forgets_the_old_run()
        {
            var c = new ColoCheckpointCounter();
            c.Restart(0, T0);
            c.Observe(Event("RESUME", 10));
            Assert.Equal(0, c.Read().Count);
            c.Observe(Event("STOP", 20));
            c.Observe(Event("RESUME", 30));
            Assert.Equal(1, c.Read().Count);
            c.Restart(_seq, T0.AddMinutes(1));
            var s = c.Read();
            Assert.Equal(0, s.Count);
            Assert.Null(s.MaxPause);
            Assert.Equal(0, s.Window);
        }

        [Fact]
        public void The_median_and_maximum_cover_the_recent_window_only()
        {
            var c = new ColoCheckpointCounter();
            c.Restart(0, T0);
            double t = 0;
            c.Observe(Event("STOP", t)); c.Observe(Event("RESUME", t + 5000)); // one long pause, long ago
            for (int i = 0; i < ColoCheckpointCounter.Window; i++)
            {
                t += 1000;
                c.Observe(Event("STOP", t));
                c.Observe(Event("RESUME", t + 50));
            }
            var s = c.Read();
            Assert.Equal(ColoCheckpointCounter.Window + 1, s.Count);
            Assert.Equal(ColoCheckpointCounter.Window, s.Window);
            Assert.Equal(TimeSpan.FromMilliseconds(50), s.MaxPause);
            Assert.Equal(TimeSpan.FromMilliseconds(50), s.MedianPause);
        }
    }
}
