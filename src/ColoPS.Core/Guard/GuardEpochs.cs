using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>
    /// The epochs this side's QEMU is known by, kept per QEMU process: a new QEMU at the site knows
    /// no epoch until the witness names it. MyEpoch feeds GuardModel.Standing, ProtectedEpoch
    /// GuardModel.Answer (a claim that left COLO moves MyEpoch only, so the next tick sees
    /// ClaimSucceeded and carries the takeover out).
    /// </summary>
    public sealed class GuardEpochs
    {
        public int? QemuProcessId { get; set; }
        public long MyEpoch { get; set; }
        public long ProtectedEpoch { get; set; }
        /// <summary>The epoch this QEMU became the secondary in (the record's secondarySince when first named).</summary>
        public long? JoinEpoch { get; set; }

        /// <param name="awaitsMigration">The QEMU is a secondary that never received the VM.</param>
        public void Observe(string site, OwnObservation own, int? pid, PairState? witness, bool awaitsMigration = false)
        {
            if (pid != null && pid != QemuProcessId)
            {
                QemuProcessId = pid;
                MyEpoch = ProtectedEpoch = 0;
                JoinEpoch = null;
            }
            var r = witness?.Record;
            if (r == null || pid == null) return;
            bool knowsNothing = MyEpoch == 0 && ProtectedEpoch == 0 && JoinEpoch == null;
            if (knowsNothing && r.Primary == site && (own == OwnObservation.ProtectedPrimary || (own == OwnObservation.StandaloneRunning && r.Owner == site && r.Secondary == null)))
            {
                // A guard (re)started next to the QEMU the witness names as primary: take its epoch up, claim nothing.
                MyEpoch = ProtectedEpoch = r.Epoch;
                return;
            }
            if (own == OwnObservation.StandaloneRunning && r.Owner == site && r.Primary == site && r.Secondary == null && r.Epoch == MyEpoch)
            {
                // Its takeover is done: it serves alone in this epoch, which a resume claims on from.
                ProtectedEpoch = MyEpoch;
                return;
            }
            if (own == OwnObservation.ProtectedPrimary && r.Owner == site && r.Primary == site && r.Secondary != null && r.Epoch == MyEpoch)
            {
                // Protected in the epoch it claimed naming a secondary (a resume, also one a killed
                // guard left to QEMU to finish): that epoch is no cue to fail over.
                ProtectedEpoch = MyEpoch;
                return;
            }
            if (own == OwnObservation.ProtectedSecondary && r.Secondary == site && r.SecondarySince != 0)
            {
                // Only the first naming of this QEMU counts: a later epoch naming the site anew names another QEMU there.
                // A QEMU still waiting for the VM is named only by the claim that follows its own
                // announcement: an epoch naming the site before that (for a QEMU that was there before it,
                // whose resume failed) is not its.
                bool namesThis = !awaitsMigration || (witness!.Ready != null && witness.Ready.Site == site && witness.Ready.QemuProcessId == pid && witness.Ready.Epoch + 1 == r.SecondarySince);
                if (JoinEpoch == null && knowsNothing && namesThis) JoinEpoch = r.SecondarySince;
                if (r.SecondarySince == JoinEpoch && r.Epoch >= MyEpoch) MyEpoch = ProtectedEpoch = r.Epoch;
            }
        }

        /// <summary>This side serves in the epoch it owns (a resume ended, well or not): the next claim starts from it.</summary>
        public void Settled() => ProtectedEpoch = MyEpoch;

        /// <summary>A claim this side made committed.</summary>
        public void Claimed(long epoch, bool keptRoles)
        {
            MyEpoch = epoch;
            if (keptRoles) ProtectedEpoch = epoch;
        }
    }
}
