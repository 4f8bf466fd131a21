using ColoPS.Guard;
using ColoPS.Witness;
using Xunit;

namespace ColoPS.Tests.Guard
{
    public sealed class ReprotectSignalsTests
    {
        private static PairState State(long epoch, string owner, string? secondary, long since, string? liveOwner, SecondaryReady? ready = null, string reason = "failover") => new()
        {
            Record = new PairEpochRecord { Epoch = epoch, Owner = owner, Primary = owner, Secondary = secondary, SecondarySince = since, Reason = reason },
            LiveOwner = liveOwner,
            Ready = ready,
        };

        private static SecondaryReady Ready(string site, long epoch, long revision = 7) => new() { Site = site, Epoch = epoch, QemuProcessId = 42, ModRevision = revision };

        [Fact]
        public void TheDeadSide_WantsASecondaryOnlyForALivePeerOwnerRunningAlone()
        {
            Assert.True(ReprotectSignals.SecondaryWanted("A", State(2, "B", null, 0, "B")));
            // Not before the peer owns the epoch: a lease gone or still this side's.
            Assert.False(ReprotectSignals.SecondaryWanted("A", State(2, "B", null, 0, null)));
            Assert.False(ReprotectSignals.SecondaryWanted("A", State(1, "A", "B", 1, "A")));
            // Already announced for this epoch.
            Assert.False(ReprotectSignals.SecondaryWanted("A", State(2, "B", null, 0, "B", Ready("A", 2))));
            // Announced for an older epoch: wanted again.
            Assert.True(ReprotectSignals.SecondaryWanted("A", State(2, "B", null, 0, "B", Ready("A", 1))));
            // Named, but nothing runs here any more (the resume failed and took it away).
            Assert.True(ReprotectSignals.SecondaryWanted("A", State(3, "B", "A", 3, "B", Ready("A", 2), "resume")));
            // The peer still has its own secondary, or the live owner is not the epoch's owner.
            Assert.False(ReprotectSignals.SecondaryWanted("A", State(3, "B", "C", 3, "B")));
            Assert.False(ReprotectSignals.SecondaryWanted("A", State(2, "B", null, 0, "C")));
        }

        [Fact]
        public void TheSurvivor_ClaimsForAnAnnouncementThenResumesToTheEpochNamingIt()
        {
            var announced = State(2, "B", null, 0, "B", Ready("A", 2));
            Assert.True(ReprotectSignals.NewSecondaryReady("B", "A", announced, named: false, failedRevision: 0));
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", announced, named: true, failedRevision: 0));
            var named = State(3, "B", "A", 3, "B", Ready("A", 2), "resume");
            Assert.True(ReprotectSignals.NewSecondaryReady("B", "A", named, named: true, failedRevision: 0));
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", named, named: false, failedRevision: 0));
            // An announcement whose resume failed is not used again.
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", named, named: true, failedRevision: 7));
            // A secondary that joined earlier than this epoch is not the one announced.
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", State(3, "B", "A", 2, "B", Ready("A", 2)), named: true, failedRevision: 0));
            // An announcement for an epoch that moved on, from its own site, or while the lease is not this side's.
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", State(4, "B", null, 0, "B", Ready("A", 2)), named: false, failedRevision: 0));
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", State(2, "B", null, 0, "B", Ready("B", 2)), named: false, failedRevision: 0));
            Assert.False(ReprotectSignals.NewSecondaryReady("B", "A", State(2, "B", null, 0, null, Ready("A", 2)), named: false, failedRevision: 0));
        }

        [Fact]
        public void AWaitingSecondary_IsAnnouncedAgainForAPeerThatClaimedOnceMore()
        {
            // Announced for epoch 2 (pid 42); the survivor's guard restarted and claimed epoch 3 alone.
            Assert.True(ReprotectSignals.AnnounceWaitingSecondary("A", 42, State(3, "B", null, 0, "B", Ready("A", 2))));
            Assert.False(ReprotectSignals.AnnounceWaitingSecondary("A", 42, State(3, "B", null, 0, "B", Ready("A", 3))));
            // Another QEMU was announced for this epoch: this one is announced in its place.
            Assert.True(ReprotectSignals.AnnounceWaitingSecondary("A", 43, State(3, "B", null, 0, "B", Ready("A", 3))));
            // Not while an epoch names a secondary, nor before the peer owns the pair alone.
            Assert.False(ReprotectSignals.AnnounceWaitingSecondary("A", 42, State(4, "B", "A", 4, "B", Ready("A", 3), "resume")));
            Assert.False(ReprotectSignals.AnnounceWaitingSecondary("A", 42, State(3, "B", null, 0, null, Ready("A", 2))));
            Assert.False(ReprotectSignals.AnnounceWaitingSecondary("A", 42, State(3, "A", null, 0, "A")));
        }

        [Fact]
        public void TheSurvivor_ServesInItsEpochOnceRunningAlone()
        {
            var e = new GuardEpochs();
            e.Observe("B", OwnObservation.ProtectedSecondary, 10, State(1, "A", "B", 1, "A"));
            e.Claimed(2, keptRoles: false);
            Assert.Equal(WitnessAnswer.ClaimSucceeded, GuardModel.Answer("B", e.ProtectedEpoch, State(2, "B", null, 0, "B")));
            e.Observe("B", OwnObservation.StandaloneRunning, 10, State(2, "B", null, 0, "B"));
            Assert.Equal(WitnessAnswer.OwnerIsMe, GuardModel.Answer("B", e.ProtectedEpoch, State(2, "B", null, 0, "B")));
            // A new QEMU at the old primary's site is named in epoch 3 and is current there; the old one never was.
            var a = new GuardEpochs();
            a.Observe("A", OwnObservation.ProtectedSecondary, 20, State(2, "B", null, 0, "B", Ready("A", 2)));
            Assert.Equal(EpochStanding.Stale, GuardModel.Standing("A", a.MyEpoch, State(2, "B", null, 0, "B")));
            var three = State(3, "B", "A", 3, "B", Ready("A", 2), "resume");
            a.Observe("A", OwnObservation.ProtectedSecondary, 20, three);
            Assert.Equal(EpochStanding.Current, GuardModel.Standing("A", a.MyEpoch, three));
        }
    }
}
