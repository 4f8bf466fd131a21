using System;
using ColoPS.Witness;
using Xunit;

namespace ColoPS.Tests.Guard
{
    public sealed class LeaseTimerTests
    {
        private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
        private static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(500);

        [Fact]
        public void NoLease_IsNone()
        {
            var t = new LeaseTimer(new TestClock(), Margin);
            Assert.Equal(LeaseRenewal.None, t.State);
            Assert.Equal(TimeSpan.Zero, t.Remaining);
        }

        [Fact]
        public void Deadline_CountsFromWhenTheRequestWasSent_NotFromTheAnswer()
        {
            var clock = new TestClock();
            var t = new LeaseTimer(clock, Margin);
            long sent = t.Now();
            clock.Advance(TimeSpan.FromMilliseconds(800)); // a slow answer
            t.Granted(Ttl, sent);
            Assert.Equal(TimeSpan.FromMilliseconds(1200), t.Remaining);
            Assert.Equal(LeaseRenewal.Renewed, t.State);
        }

        [Fact]
        public void FailingRenewals_GoFromTimeLeftToAboutToExpire_AtTheMargin()
        {
            var clock = new TestClock();
            var t = new LeaseTimer(clock, Margin);
            t.Granted(Ttl, t.Now());
            clock.Advance(TimeSpan.FromMilliseconds(500));
            t.RenewalFailed();
            Assert.Equal(LeaseRenewal.FailingWithTimeLeft, t.State);
            clock.Advance(TimeSpan.FromMilliseconds(999));
            Assert.Equal(LeaseRenewal.FailingWithTimeLeft, t.State); // 501 ms left
            clock.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Equal(LeaseRenewal.AboutToExpire, t.State); // 500 ms left: the margin
            clock.Advance(TimeSpan.FromSeconds(5));
            Assert.Equal(LeaseRenewal.AboutToExpire, t.State); // past the deadline it never looks better
            Assert.Equal(TimeSpan.Zero, t.Remaining);
        }

        [Fact]
        public void EvenWithoutAFailedRenewal_ALeaseNotRenewedInTimeIsAboutToExpire()
        {
            var clock = new TestClock();
            var t = new LeaseTimer(clock, Margin);
            t.Granted(Ttl, t.Now());
            clock.Advance(TimeSpan.FromMilliseconds(1600)); // renewals hang: no answer, no failure yet
            Assert.Equal(LeaseRenewal.AboutToExpire, t.State);
        }

        [Fact]
        public void ARenewal_RestoresRenewed_AndALateAnswerNeverPullsTheDeadlineBack()
        {
            var clock = new TestClock();
            var t = new LeaseTimer(clock, Margin);
            t.Granted(Ttl, t.Now());
            long early = t.Now();
            clock.Advance(TimeSpan.FromSeconds(1));
            long later = t.Now();
            t.RenewalFailed();
            t.Renewed(Ttl, later);
            Assert.Equal(LeaseRenewal.Renewed, t.State);
            t.Renewed(Ttl, early); // the answer to an older request arrives last
            Assert.Equal(Ttl, t.Remaining);
        }

        [Fact]
        public void Ended_IsNone_AndARenewalAfterwardsDoesNotResurrectIt()
        {
            var clock = new TestClock();
            var t = new LeaseTimer(clock, Margin);
            t.Granted(Ttl, t.Now());
            t.Ended();
            t.Renewed(Ttl, t.Now());
            Assert.Equal(LeaseRenewal.None, t.State);
        }
    }
}
