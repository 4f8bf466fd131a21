using System;
using ColoPS.Witness;
using static ColoPS.Guard.GuardAction;

namespace ColoPS.Guard
{
    /// <summary>
    /// The guard's decisions as a pure function of one tick's observations. The state lives in what
    /// is observed (own QEMU's mode, the witness's epoch and owner, the lease's timer), not here, so
    /// a guard that restarts decides the same as one that never stopped.
    ///
    /// The safety rules, in the order the rules below apply them:
    /// 1. A side leaves COLO to run alone only after a witness transaction made it the owner of a
    ///    new epoch, while its lease is renewed.
    /// 2. A side that is not the owner never runs the VM alone.
    /// 3. An owner whose lease is about to expire (renewals failing) stops its VM first: the other
    ///    side may claim once the lease is gone.
    /// 4. A stale side (the pair's epoch moved on without it) never takes over.
    /// 5. A secondary takes over an unreachable primary only after the fencing hook succeeded.
    /// 6. A primary in COLO that hears no secondary either drops it by owning a new epoch without it
    ///    (witness reachable) or, cut off from everything, stops its VM before its lease can expire;
    ///    a secondary that hears no primary claims only once the primary's lease is gone. A peer
    ///    guard that is silent while this side's checkpoints still complete (ColoFlows) is a guard
    ///    down or restarting, not a cut link: neither side acts on its silence then.
    /// Availability comes after: when in doubt the model waits or fences, and says why.
    /// </summary>
    public static class GuardModel
    {
        public static GuardDecision Decide(GuardInput i)
        {
            if (i == null) throw new ArgumentNullException(nameof(i));
            bool holdsLease = i.Lease != LeaseRenewal.None;

            if (i.Own == OwnObservation.QemuDead)
            {
                if (holdsLease) return GuardDecision.Do("own QEMU is gone: release the lease so the peer need not wait out its TTL", ReleaseLease);
                // A fresh secondary holds no VM state until the owner's migration fills it, so it can
                // never be a second copy; it is made only for an owner the witness shows alive.
                if (i.SecondaryWanted && i.Witness == WitnessAnswer.OwnerIsPeer)
                    return GuardDecision.Do("own QEMU is gone and the peer owns a newer epoch alone: start a new secondary here for it", StartSecondary);
                return GuardDecision.Wait("own QEMU is gone and this side holds no lease: nothing to guard");
            }

            if (i.Own == OwnObservation.Frozen)
                return holdsLease
                    ? GuardDecision.Do("own QMP does not answer: kill QEMU (a frozen VM may wake and send after the peer took over), then release the lease", KillQemu, ReleaseLease)
                    : GuardDecision.Do("own QMP does not answer: kill QEMU so it cannot wake into a pair that moved on", KillQemu);

            // A primary still in COLO is left running while its secondary is heard: that secondary
            // claims only once the primary is silent, so fencing here would end the protection
            // whenever the witness goes down (issue 10: protection continues then).
            if (i.Lease == LeaseRenewal.AboutToExpire && i.MayProduceOutput && i.Own != OwnObservation.ProtectedPrimary)
                return GuardDecision.Do("the lease is about to expire and renewals fail: stop the VM before the peer may claim the pair, then try to release", StopVm, ReleaseLease);
            if (IsCutOff(i))
                return Fence(holdsLease, (i.PeerVm == PeerObservation.NeverHeard ? "cut off: the secondary was never heard since this guard started" : "cut off: the secondary is silent")
                    + " and the lease cannot be kept, so the secondary may claim and take over: stop the VM first");

            // The owner claimed again without the secondary it had named (its guard was killed during
            // the resume and its lease ran out): that secondary never received the VM, so a fresh one
            // in its place, announced for the owner's epoch, lets the pair be protected again.
            if (i.Epoch == EpochStanding.Stale && i.Own == OwnObservation.ProtectedSecondary && i.AwaitsMigration && i.SecondaryWanted && i.Witness == WitnessAnswer.OwnerIsPeer)
                return holdsLease
                    ? GuardDecision.Do("stale waiting secondary: the owner runs alone in a newer epoch without it; it never received the VM, so it is replaced by a fresh one", KillQemu, ReleaseLease)
                    : GuardDecision.Do("stale waiting secondary: the owner runs alone in a newer epoch without it; it never received the VM, so it is replaced by a fresh one", KillQemu);

            if (i.Epoch == EpochStanding.Stale && !i.MayProduceOutput && i.SecondaryWanted && i.Peer == PeerObservation.Answers && i.Witness == WitnessAnswer.OwnerIsPeer)
            {
                // The secondary left behind by a failover (a cut link): its VM is the pair's past and it can never
                // take over, so it only keeps the site from serving the owner a fresh secondary. The owner is heard,
                // so the link that a new secondary needs works again.
                const string reason = "stale: the secondary left behind while the peer owns a newer epoch alone; end it so a fresh secondary can start here";
                return holdsLease ? GuardDecision.Do(reason, KillQemu, ReleaseLease) : GuardDecision.Do(reason, KillQemu);
            }
            if (i.Epoch == EpochStanding.Stale)
                return i.MayProduceOutput
                    ? Fence(holdsLease, "stale: the pair's epoch moved on without this side, so its VM must send nothing")
                    : holdsLease
                        ? GuardDecision.Do("stale: the pair's epoch moved on without this side; it never takes over, and its lease is of no use", ReleaseLease)
                        : GuardDecision.Wait("stale: the pair's epoch moved on without this side; it never takes over");

            if (i.Own == OwnObservation.StandaloneRunning && !holdsLease)
                return GuardDecision.Do("runs the VM alone without holding a lease: not provably the owner", StopVm);

            switch (i.Witness)
            {
                case WitnessAnswer.Unreachable:
                    return GuardDecision.Do($"witness unreachable: no automatic failover (lease {i.Lease})", ReportWitnessUnreachable);

                case WitnessAnswer.OwnerIsPeer:
                    if (i.MayProduceOutput && i.Own != OwnObservation.ProtectedPrimary)
                        return Fence(holdsLease, "the peer owns the pair: this side must not send output alone");
                    return GuardDecision.Wait("the peer holds the pair's lease: no takeover before its lease is gone");

                case WitnessAnswer.ClaimConflict:
                    if (i.Own == OwnObservation.StandaloneRunning)
                        return Fence(holdsLease, "lost the claim while running alone: the other side owns the pair");
                    return GuardDecision.Wait("lost the claim: the other side moved the pair first; not taking over");

                case WitnessAnswer.ClaimSucceeded:
                    return AfterClaim(i);

                default: // OwnerIsMe, NoOwner
                    return BeforeClaim(i);
            }
        }

        private static GuardDecision Fence(bool holdsLease, string reason) =>
            holdsLease ? GuardDecision.Do(reason, StopVm, ReleaseLease) : GuardDecision.Do(reason, StopVm);

        // The epoch this side was protected in is still the witness's: decide whether to claim the next.
        private static GuardDecision BeforeClaim(GuardInput i)
        {
            bool ownerIsMe = i.Witness == WitnessAnswer.OwnerIsMe;
            bool canClaim = i.Lease == LeaseRenewal.Renewed;
            string noClaim = i.Lease == LeaseRenewal.None
                ? "no lease to claim with yet"
                : "the lease's renewals fail, so a claim would hang on a lease that may not last";

            switch (i.Own)
            {
                case OwnObservation.ProtectedPrimary:
                    // The link to the secondary is cut but the witness answers: keep the VM by owning
                    // an epoch without that secondary, which leaves it stale for good.
                    // A silent guard beside a secondary whose checkpoints still complete is a guard that is
                    // down or restarting, not a cut link: dropping the secondary would end protection for nothing.
                    if (i.PeerVm == PeerObservation.Silent && i.ColoFlows)
                        return GuardDecision.Wait("the secondary's guard is silent, but checkpoints keep completing: its QEMU lives and the link works");
                    if (i.PeerVm == PeerObservation.Silent)
                        return canClaim
                            ? GuardDecision.Do("the secondary is silent on the network: claim a new epoch without it, then drop replication (primary failover)", Claim)
                            : GuardDecision.Wait($"the secondary is silent on the network, but {noClaim}");
                    if (ownerIsMe) return GuardDecision.Wait("protected: this primary owns the pair");
                    // Nobody owns it: a secondary that loses sight of this side could claim and run too.
                    return canClaim
                        ? GuardDecision.Do("protected primary without an owner key: claim the next epoch with the same roles", Claim)
                        : GuardDecision.Wait($"protected primary without an owner key, but {noClaim}");

                case OwnObservation.ProtectedSecondary:
                    // A cut link may bring no COLO_EXIT for a long time (TCP retries): a primary that is
                    // silent and whose lease is gone has stopped its VM (rule 3) or lost its site.
                    // The primary's guard is down or restarting (its lease runs out with it) while its VM
                    // keeps checkpointing here: a takeover would fence a healthy primary.
                    if (i.PeerVm == PeerObservation.Silent && !ownerIsMe && i.ColoFlows)
                        return GuardDecision.Wait("the primary's guard is silent and its lease is gone, but checkpoints keep arriving: its VM runs and reaches this side; no takeover");
                    if (i.PeerVm == PeerObservation.Silent && !ownerIsMe)
                        return canClaim
                            ? GuardDecision.Do("the primary is silent on the network and its lease is gone: claim the next epoch", Claim)
                            : GuardDecision.Wait($"the primary is silent on the network and its lease is gone, but {noClaim}: no takeover");
                    return GuardDecision.Wait("protected: COLO runs, waiting for COLO_EXIT or a silent primary before anything else");

                case OwnObservation.ColoExitError when i.Role == GuardRole.Primary:
                    // The primary is the natural survivor: it already has the VM's network identity.
                    return canClaim
                        ? GuardDecision.Do("COLO ended with an error on the primary: claim the next epoch before running alone", Claim)
                        : GuardDecision.Wait($"COLO ended with an error on the primary, but {noClaim}: no failover");

                case OwnObservation.ColoExitError:
                    if (i.PeerVm == PeerObservation.Answers)
                        return GuardDecision.Wait("COLO ended but the primary's VM still runs: it stays the survivor");
                    return canClaim
                        ? GuardDecision.Do(ownerIsMe
                            ? "COLO ended, the primary is silent: claim the next epoch"
                            : "COLO ended, the primary is silent and its lease is gone: claim the next epoch", Claim)
                        : GuardDecision.Wait($"COLO ended and the primary is silent, but {noClaim}: no takeover");

                case OwnObservation.StandaloneRunning:
                    // No owner and still this side's epoch (a newer one would make it stale): nobody
                    // claimed since, and a claim is a compare-and-swap on that epoch, so winning it
                    // proves the peer never owned the VM meanwhile. A guard restarted after its
                    // lease ran out thus keeps the VM; losing the claim fences it (ClaimConflict).
                    if (!ownerIsMe)
                        return canClaim
                            ? GuardDecision.Do("runs alone, the lease is gone but the epoch is still this side's: claim it again before anything else", Claim)
                            : Fence(true, "runs alone but the witness shows no owner: the lease is gone");
                    if (i.NewSecondaryReady)
                        return canClaim
                            ? GuardDecision.Do("a new secondary is ready: claim the next epoch naming it", Claim)
                            : GuardDecision.Wait($"a new secondary is ready, but {noClaim}");
                    return GuardDecision.Wait("runs alone as the owner: unprotected until a new secondary is ready");

                default:
                    throw new ArgumentOutOfRangeException(nameof(i), i.Own, "Handled before.");
            }
        }

        // This side owns a new epoch: carry out what the claim was for.
        private static GuardDecision AfterClaim(GuardInput i)
        {
            if (i.Lease != LeaseRenewal.Renewed)
                return GuardDecision.Wait($"owns the new epoch but the lease is {i.Lease}: not leaving COLO on a lease that may not last");

            switch (i.Own)
            {
                case OwnObservation.ProtectedPrimary:
                case OwnObservation.ColoExitError when i.Role == GuardRole.Primary:
                    // The peer is a secondary, whose output never left colo-compare: no fencing needed.
                    return GuardDecision.Do("owns the new epoch as the primary: leave COLO and run alone (primary failover)", FailOver);

                case OwnObservation.ProtectedSecondary:
                case OwnObservation.ColoExitError:
                    if (i.PeerVm == PeerObservation.Answers)
                        return GuardDecision.Wait("owns the new epoch but the old primary's VM still runs: waiting for it to stop (it is stale now)");
                    return i.Fence switch
                    {
                        // One decision: the actions run in order and stop at the first that fails, and a
                        // failed hook fails its action, so the takeover runs only after a fence that worked,
                        // without waiting for another tick.
                        FenceHookResult.NotRun => GuardDecision.Do("owns the new epoch; the primary is unreachable: fence it, then take over and announce the VM here", RunFencingHook, FailOver, AnnounceSelf),
                        FenceHookResult.Failed => GuardDecision.Wait("the fencing hook failed: no takeover (an operator must decide)"),
                        _ => GuardDecision.Do("owns the new epoch and the old primary is fenced: take over and announce the VM here", FailOver, AnnounceSelf),
                    };

                case OwnObservation.StandaloneRunning:
                    return i.NewSecondaryReady
                        ? GuardDecision.Do("owns the epoch naming the new secondary: resume replication", Reprotect)
                        : GuardDecision.Wait("owns the new epoch and runs alone: waiting for a new secondary");

                default:
                    throw new ArgumentOutOfRangeException(nameof(i), i.Own, "Handled before.");
            }
        }

        /// <summary>
        /// A primary in COLO that hears no secondary and cannot keep its lease: the secondary may be
        /// cut off from it too but reach the witness, and claim once the lease is gone. Without a
        /// lease and without the witness it cannot show it owns anything either.
        /// </summary>
        /// A guard restarted during the cut never heard its secondary (NeverHeard): its secondary may
        /// claim just the same, so it fences just the same. Fencing on it costs availability only when
        /// the witness is lost too and the secondary's guard is down, never safety.
        public static bool IsCutOff(GuardInput i) =>
            i.Own == OwnObservation.ProtectedPrimary && i.PeerVm is (PeerObservation.Silent or PeerObservation.NeverHeard)
            && (i.Lease == LeaseRenewal.AboutToExpire || (i.Lease == LeaseRenewal.None && i.Witness == WitnessAnswer.Unreachable));

        /// <summary>
        /// Whether a claim decided for this input names the peer as the secondary again: only a
        /// protected primary that still hears it. A primary that claims because its secondary is
        /// silent names none, so that secondary is stale and can never take over.
        /// </summary>
        public static bool ClaimKeepsSecondary(GuardInput i) =>
            i.Own == OwnObservation.ProtectedPrimary && i.PeerVm != PeerObservation.Silent;

        /// <summary>
        /// Whether this side is current: the witness's epoch is the one it knows, or a newer one that
        /// this side claimed, or one that keeps it as the secondary it already was (its primary
        /// claimed again with the same roles). A secondary left behind by a failover is stale, and
        /// stays stale even when a later resume names its site again: that names a new QEMU there.
        /// A witness behind this side's own epoch is stale too: it lost data, and acting on it could
        /// let an old owner back.
        /// </summary>
        public static EpochStanding Standing(string site, long myEpoch, PairState witness)
        {
            if (witness == null) throw new ArgumentNullException(nameof(witness));
            var r = witness.Record;
            if (witness.Epoch == myEpoch) return EpochStanding.Current;
            if (witness.Epoch < myEpoch || r == null) return EpochStanding.Stale;
            if (r.Owner == site) return EpochStanding.Current;
            if (r.Secondary == site && r.SecondarySince != 0 && r.SecondarySince <= myEpoch) return EpochStanding.Current;
            return EpochStanding.Stale;
        }

        /// <summary>The witness's answer for this side, from a read of the pair (claim outcomes come from the claim itself).</summary>
        public static WitnessAnswer Answer(string site, long protectedEpoch, PairState witness)
        {
            if (witness == null) throw new ArgumentNullException(nameof(witness));
            if (witness.IsOwnedBy(site)) return witness.Epoch > protectedEpoch ? WitnessAnswer.ClaimSucceeded : WitnessAnswer.OwnerIsMe;
            return witness.HasLiveOwner ? WitnessAnswer.OwnerIsPeer : WitnessAnswer.NoOwner;
        }
    }
}
