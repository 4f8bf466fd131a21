using ColoPS.Guard;
using ColoPS.Witness;
using Xunit;

namespace ColoPS.Tests.Guard
{
    /// <summary>Which epoch names this site's QEMU as the secondary, when QEMUs at the site come and go.</summary>
    public sealed class GuardEpochsTests
    {
        private static PairState State(long epoch, string? secondary, long since, int? readyPid = null, long readyEpoch = 0) => new()
        {
            Record = new PairEpochRecord { Epoch = epoch, Owner = "B", Primary = "B", Secondary = secondary, SecondarySince = since, Reason = "resume" },
            LiveOwner = "B",
            Ready = readyPid == null ? null : new SecondaryReady { Site = "A", Epoch = readyEpoch, QemuProcessId = readyPid.Value },
        };

        [Fact]
        public void A_waiting_secondary_is_named_by_the_claim_after_its_own_announcement_only()
        {
            var e = new GuardEpochs();
            // Epoch 4 names site A for QEMU 10554 (announced for 3), whose resume failed; 10768 has started since.
            e.Observe("A", OwnObservation.ProtectedSecondary, 10768, State(4, "A", 4, readyPid: 10554, readyEpoch: 3), awaitsMigration: true);
            Assert.Null(e.JoinEpoch);
            Assert.Equal(EpochStanding.Stale, GuardModel.Standing("A", e.MyEpoch, State(4, "A", 4)));
            // 10768 announced for 4; the claim naming it is 5.
            e.Observe("A", OwnObservation.ProtectedSecondary, 10768, State(4, "A", 4, readyPid: 10768, readyEpoch: 4), awaitsMigration: true);
            Assert.Null(e.JoinEpoch);
            e.Observe("A", OwnObservation.ProtectedSecondary, 10768, State(5, "A", 5, readyPid: 10768, readyEpoch: 4), awaitsMigration: true);
            Assert.Equal(5, e.JoinEpoch);
            Assert.Equal(5, e.MyEpoch);
            // In COLO now, and the primary claims again keeping it: still current.
            e.Observe("A", OwnObservation.ProtectedSecondary, 10768, State(6, "A", 5, readyPid: 10768, readyEpoch: 4));
            Assert.Equal(6, e.MyEpoch);
        }

        [Fact]
        public void A_secondary_already_in_COLO_takes_its_epoch_up_without_an_announcement()
        {
            // A guard (re)started next to a secondary the operator started by hand: no ready key at all.
            var e = new GuardEpochs();
            e.Observe("A", OwnObservation.ProtectedSecondary, 300, State(1, "A", 1));
            Assert.Equal(1, e.JoinEpoch);
            Assert.Equal(1, e.MyEpoch);
        }
    }
}
