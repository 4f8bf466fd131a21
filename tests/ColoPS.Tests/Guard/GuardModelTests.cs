using System;
using System.Collections.Generic;
using System.Linq;
using ColoPS.Guard;
using ColoPS.Witness;
using Xunit;
using static ColoPS.Guard.GuardAction;

namespace ColoPS.Tests.Guard
{
    public sealed class GuardModelTests
    {
        public static IEnumerable<object[]> Outer() =>
            from role in Enum.GetValues<GuardRole>()
            from own in Enum.GetValues<OwnObservation>()
            from peer in Enum.GetValues<PeerObservation>()
            from witness in Enum.GetValues<WitnessAnswer>()
            select new object[] { role, own, peer, witness };

        private static IEnumerable<GuardInput> Inner(GuardRole role, OwnObservation own, PeerObservation peer, WitnessAnswer witness) =>
            from lease in Enum.GetValues<LeaseRenewal>()
            from epoch in Enum.GetValues<EpochStanding>()
            from fence in Enum.GetValues<FenceHookResult>()
            from ready in new[] { false, true }
            from wanted in new[] { false, true }
            from fresh in new[] { false, true }
            from awaits in new[] { false, true }
            from flows in new[] { false, true }
            select new GuardInput(role, own, peer, witness, lease, epoch, fence, ready, wanted, fresh, awaits, flows);

        // The whole product: role x own x peer x witness here, lease x epoch x fence x ready x wanted x
        // fresh x awaits x flows inside, 288 x 768 = 221184 inputs. Every one must keep every safety rule.
        [Theory]
        [MemberData(nameof(Outer))]
        public void EveryInput_KeepsTheSafetyRules(GuardRole role, OwnObservation own, PeerObservation peer, WitnessAnswer witness)
        {
            var broken = new List<string>();
            foreach (var input in Inner(role, own, peer, witness))
            {
                var d = GuardModel.Decide(input);
                foreach (var rule in Violations(input, d)) broken.Add($"{input} -> {d}: {rule}");
            }
            Assert.True(broken.Count == 0, string.Join(Environment.NewLine, broken.Take(20)));
        }

        private static IEnumerable<string> Violations(GuardInput i, GuardDecision d)
        {
            if (string.IsNullOrWhiteSpace(d.Reason)) yield return "no reason";
            // A fresh secondary announced at the peer's site is not the old primary's VM, which is what a secondary asks about.
            bool asksForOldPrimary = i.Own == OwnObservation.ProtectedSecondary || (i.Own == OwnObservation.ColoExitError && i.Role == GuardRole.Secondary);
            var oldPrimary = i.PeerFreshSecondary && asksForOldPrimary ? PeerObservation.Silent : i.Peer;
            if (d.Has(FailOver) && i.Witness != WitnessAnswer.ClaimSucceeded) yield return "left COLO without a committed claim";
            if (d.Has(FailOver) && i.Lease != LeaseRenewal.Renewed) yield return "left COLO on a lease that is not renewed";
            if (d.Has(FailOver) && i.Own is not (OwnObservation.ProtectedPrimary or OwnObservation.ProtectedSecondary or OwnObservation.ColoExitError))
                yield return "failed over from a side that is not in COLO";
            if (i.Epoch == EpochStanding.Stale && (d.Has(Claim) || d.Has(FailOver) || d.Has(Reprotect) || d.Has(AnnounceSelf) || d.Has(RunFencingHook)))
                yield return "a stale side acted to take over";
            if (i.Epoch == EpochStanding.Stale && i.MayProduceOutput && !d.SelfFences) yield return "a stale side keeps sending";
            if (i.Lease == LeaseRenewal.AboutToExpire && i.MayProduceOutput && i.Own != OwnObservation.ProtectedPrimary && !d.SelfFences) yield return "an owner about to lose its lease did not fence";
            bool reclaims = i.Witness == WitnessAnswer.NoOwner && i.Epoch == EpochStanding.Current && i.Lease == LeaseRenewal.Renewed && d.Actions.SequenceEqual(new[] { Claim });
            if (i.Own == OwnObservation.StandaloneRunning && !d.SelfFences && !reclaims
                && (i.Lease == LeaseRenewal.None || i.Witness is WitnessAnswer.OwnerIsPeer or WitnessAnswer.NoOwner or WitnessAnswer.ClaimConflict))
                yield return "a side that is not the owner keeps running the VM alone (other than claiming its own epoch again)";
            bool takeover = d.Has(FailOver) && i.Role == GuardRole.Secondary && i.Own != OwnObservation.ProtectedPrimary;
            // The hook may run in the same decision, before the takeover (a failed hook fails its action and stops the rest).
            bool fencedFirst = i.Fence == FenceHookResult.Succeeded
                || (i.Fence == FenceHookResult.NotRun && d.Has(RunFencingHook) && d.Actions.ToList().IndexOf(RunFencingHook) < d.Actions.ToList().IndexOf(FailOver));
            if (takeover && !fencedFirst) yield return "took over without a successful fencing hook";
            if (takeover && oldPrimary == PeerObservation.Answers) yield return "took over from a primary whose VM still runs";
            if (d.Has(RunFencingHook) && i.Witness != WitnessAnswer.ClaimSucceeded) yield return "fenced the peer before owning the new epoch";
            if (i.Witness == WitnessAnswer.Unreachable && (d.Has(Claim) || d.Has(FailOver) || d.Has(Reprotect))) yield return "acted on an unreachable witness";
            if (i.Witness == WitnessAnswer.Unreachable && !d.Has(ReportWitnessUnreachable) && !d.SelfFences && i.Own != OwnObservation.QemuDead && i.Epoch == EpochStanding.Current)
                yield return "did not report the unreachable witness";
            if (i.Witness == WitnessAnswer.OwnerIsPeer && (d.Has(Claim) || d.Has(FailOver))) yield return "claimed or failed over while the peer owns the pair";
            if (d.Has(Claim) && i.Lease != LeaseRenewal.Renewed) yield return "claimed with a lease that is not renewed";
            if (d.Has(Claim) && (d.Has(FailOver) || d.Has(Reprotect))) yield return "acted on a claim in the same step as making it";
            if (d.Has(AnnounceSelf) && !d.Has(FailOver)) yield return "announced without taking over";
            if (d.SelfFences && (d.Has(FailOver) || d.Has(Claim) || d.Has(Reprotect))) yield return "fenced itself and took over at once";
            if (d.Has(Reprotect) && !(i.Own == OwnObservation.StandaloneRunning && i.Witness == WitnessAnswer.ClaimSucceeded && i.NewSecondaryReady))
                yield return "re-protected without owning an epoch that names a ready secondary";
            if (d.Has(ReleaseLease) && i.Lease == LeaseRenewal.None) yield return "released a lease it does not hold";
            // Partitions (issue 10): a cut-off primary fences before its lease can expire; a primary
            // that still hears its secondary survives a witness outage; nobody claims past a peer it hears.
            if (i.Own == OwnObservation.ProtectedPrimary && i.Peer is PeerObservation.Silent or PeerObservation.NeverHeard && i.Lease == LeaseRenewal.AboutToExpire && !d.SelfFences)
                yield return "a primary that hears no secondary and is about to lose its lease keeps its VM running";
            // A peer guard never heard may just not run: nobody takes over or drops replication on that alone.
            if (oldPrimary == PeerObservation.NeverHeard && d.Has(Claim) && i.Own is OwnObservation.ProtectedPrimary or OwnObservation.ProtectedSecondary && !GuardModel.ClaimKeepsSecondary(i))
                yield return "claimed past a peer that was only never heard";
            if (i.Own == OwnObservation.ProtectedPrimary && i.Peer == PeerObservation.Answers && i.Epoch == EpochStanding.Current && d.SelfFences)
                yield return "a current primary that hears its secondary stopped its VM (a witness outage must not end protection)";
            if (d.Has(Claim) && i.Own == OwnObservation.ProtectedSecondary && oldPrimary != PeerObservation.Silent)
                yield return "a protected secondary claimed while its primary may still be heard";
            if (d.Has(Claim) && i.Own is OwnObservation.ProtectedSecondary or OwnObservation.ProtectedPrimary && i.Peer == PeerObservation.Silent && i.ColoFlows)
                yield return "claimed past a silent guard while checkpoints show its QEMU alive and the link working";
            if (d.Has(Claim) && i.Own == OwnObservation.ProtectedSecondary && i.Witness != WitnessAnswer.NoOwner)
                yield return "a protected secondary claimed while the primary's lease may hold";
            if (d.Has(Claim) && i.Own == OwnObservation.ProtectedPrimary && i.Peer == PeerObservation.Silent && GuardModel.ClaimKeepsSecondary(i))
                yield return "a primary that hears no secondary claimed an epoch that still names it";
            if (i.Own == OwnObservation.QemuDead && d.Actions.Any(a => a is not (ReleaseLease or StartSecondary))) yield return "acted on a dead QEMU";
            // The only QEMUs a guard ends are a frozen one, and a secondary the owner left behind and wants
            // a fresh secondary in place of: one that never received the VM (whether or not its old primary
            // is heard), or one that did, once the owner is heard again (the link a new secondary needs works).
            bool waitingLeftBehind = i.Own == OwnObservation.ProtectedSecondary && i.AwaitsMigration && i.Epoch == EpochStanding.Stale && i.SecondaryWanted && i.Witness == WitnessAnswer.OwnerIsPeer;
            bool leftBehind = !i.MayProduceOutput && i.Epoch == EpochStanding.Stale && i.SecondaryWanted && i.Peer == PeerObservation.Answers && i.Witness == WitnessAnswer.OwnerIsPeer;
            if (d.Has(KillQemu) && i.Own != OwnObservation.Frozen && !waitingLeftBehind && !leftBehind)
                yield return "killed a QEMU that is neither frozen nor a secondary left behind";
            if (d.Has(StartSecondary) && !(i.Own == OwnObservation.QemuDead && i.SecondaryWanted && i.Witness == WitnessAnswer.OwnerIsPeer && i.Lease == LeaseRenewal.None))
                yield return "started a secondary other than for a live peer owner while no QEMU runs here";
            if (d.Has(StartSecondary) && d.Actions.Count != 1) yield return "started a secondary together with something else";
            if (d.Has(KillQemu) && !i.MayProduceOutput && !waitingLeftBehind && !leftBehind)
                yield return "killed a QEMU that sends nothing, other than a stale secondary wanted anew by its owner";
            if (d.Has(Claim) && i.Own == OwnObservation.StandaloneRunning && !i.NewSecondaryReady && i.Witness != WitnessAnswer.NoOwner)
                yield return "claimed while running alone without a new secondary or a lost lease";
        }

        // The table must not pass by doing nothing: each action is decided somewhere in it.
        [Fact]
        public void EveryAction_IsDecidedForSomeInput()
        {
            var all = Outer().SelectMany(o => Inner((GuardRole)o[0], (OwnObservation)o[1], (PeerObservation)o[2], (WitnessAnswer)o[3]))
                .SelectMany(i => GuardModel.Decide(i).Actions).ToHashSet();
            Assert.Equal(Enum.GetValues<GuardAction>().ToHashSet(), all);
        }

        private static GuardInput In(GuardRole role, OwnObservation own, PeerObservation peer, WitnessAnswer witness,
            LeaseRenewal lease = LeaseRenewal.Renewed, EpochStanding epoch = EpochStanding.Current, FenceHookResult fence = FenceHookResult.NotRun, bool ready = false) =>
            new(role, own, peer, witness, lease, epoch, fence, ready);

        public static IEnumerable<object[]> Rows()
        {
            const GuardRole P = GuardRole.Primary, S = GuardRole.Secondary;
            object[] Row(GuardInput i, string reasonPart, params GuardAction[] actions) => new object[] { i, actions, reasonPart };

            // The secondary's takeover, step by step.
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.OwnerIsPeer), "lease is gone");
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.NoOwner), "claim", Claim);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Unknown, WitnessAnswer.NoOwner), "claim", Claim);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded), "fence it, then take over", RunFencingHook, FailOver, AnnounceSelf);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded, fence: FenceHookResult.Succeeded), "take over", FailOver, AnnounceSelf);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded, fence: FenceHookResult.Failed), "fencing hook failed");
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.ClaimConflict), "lost the claim");
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Answers, WitnessAnswer.NoOwner), "still runs");
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.Unreachable), "no automatic failover", ReportWitnessUnreachable);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.NoOwner), "COLO_EXIT");
            // The peer runs the fresh secondary announced there (its guard started it for this side's takeover):
            // to a secondary it is not the old primary's VM, to a primary it is its secondary.
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Answers, WitnessAnswer.NoOwner) with { PeerFreshSecondary = true }, "primary is silent", Claim);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Answers, WitnessAnswer.ClaimSucceeded, fence: FenceHookResult.Succeeded) with { PeerFreshSecondary = true }, "take over", FailOver, AnnounceSelf);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.NoOwner) with { PeerFreshSecondary = true }, "silent on the network", Claim);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Answers, WitnessAnswer.ClaimSucceeded, fence: FenceHookResult.Succeeded), "still runs");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.OwnerIsMe) with { PeerFreshSecondary = true }, "protected");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.NoOwner) with { PeerFreshSecondary = true }, "same roles", Claim);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire) with { PeerFreshSecondary = true }, "witness unreachable", ReportWitnessUnreachable);
            // The secondary left behind by a primary failover.
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.NoOwner, epoch: EpochStanding.Stale), "stale", ReleaseLease);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.NoOwner, LeaseRenewal.None, EpochStanding.Stale), "stale");
            // The primary.
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.OwnerIsMe), "protected");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.Unreachable, LeaseRenewal.FailingWithTimeLeft), "no automatic failover", ReportWitnessUnreachable);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire), "witness unreachable", ReportWitnessUnreachable);
            yield return Row(In(P, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire), "about to expire", StopVm, ReleaseLease);
            yield return Row(In(P, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.OwnerIsMe), "claim", Claim);
            yield return Row(In(P, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded), "primary failover", FailOver);
            yield return Row(In(P, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded, LeaseRenewal.FailingWithTimeLeft), "may not last");
            yield return Row(In(P, OwnObservation.ColoExitError, PeerObservation.Silent, WitnessAnswer.OwnerIsMe, LeaseRenewal.FailingWithTimeLeft), "renewals fail");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.OwnerIsMe, epoch: EpochStanding.Stale), "stale", StopVm, ReleaseLease);
            // Running alone.
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.OwnerIsMe), "unprotected");
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.OwnerIsMe, ready: true), "new secondary", Claim);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded, ready: true), "resume", Reprotect);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.OwnerIsPeer), "peer owns", StopVm, ReleaseLease);
            // A guard restarted after its lease ran out: claim the epoch back, or fence when the claim cannot be made.
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.NoOwner), "claim it again", Claim);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.NoOwner, LeaseRenewal.FailingWithTimeLeft), "no owner", StopVm, ReleaseLease);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.NoOwner, epoch: EpochStanding.Stale), "stale", StopVm, ReleaseLease);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.ClaimConflict), "lost the claim", StopVm, ReleaseLease);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.OwnerIsMe, LeaseRenewal.None), "without holding a lease", StopVm);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Silent, WitnessAnswer.Unreachable, LeaseRenewal.FailingWithTimeLeft), "no automatic failover", ReportWitnessUnreachable);
            // Partitions: the link between the sites cut, a site cut off from everything.
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.OwnerIsMe), "primary failover", Claim);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.NoOwner), "without it", Claim);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded), "primary failover", FailOver);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.OwnerIsMe, LeaseRenewal.FailingWithTimeLeft), "renewals fail");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.Unreachable, LeaseRenewal.FailingWithTimeLeft), "no automatic failover", ReportWitnessUnreachable);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire), "cut off", StopVm, ReleaseLease);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.Unreachable, LeaseRenewal.None), "cut off", StopVm);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Unknown, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire), "witness unreachable", ReportWitnessUnreachable);
            // A guard restarted during a cut never heard its peer: the primary fences as if it were silent, nobody claims on it.
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.NeverHeard, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire), "never heard since this guard started", StopVm, ReleaseLease);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.NeverHeard, WitnessAnswer.Unreachable, LeaseRenewal.None), "cut off", StopVm);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.NeverHeard, WitnessAnswer.Unreachable, LeaseRenewal.FailingWithTimeLeft), "no automatic failover", ReportWitnessUnreachable);
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.NeverHeard, WitnessAnswer.OwnerIsMe), "protected");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.NeverHeard, WitnessAnswer.NoOwner), "same roles", Claim);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.NeverHeard, WitnessAnswer.NoOwner), "COLO_EXIT");
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.NeverHeard, WitnessAnswer.NoOwner), "claim", Claim);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.OwnerIsPeer), "no takeover before its lease is gone");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.NoOwner), "silent on the network", Claim);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Unknown, WitnessAnswer.NoOwner), "COLO_EXIT");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.NoOwner, LeaseRenewal.FailingWithTimeLeft), "no takeover");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded), "fence it, then take over", RunFencingHook, FailOver, AnnounceSelf);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.ClaimSucceeded, fence: FenceHookResult.Succeeded), "take over", FailOver, AnnounceSelf);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.NoOwner, epoch: EpochStanding.Stale), "stale", ReleaseLease);
            // Re-protection: the dead side starts a secondary only for a live peer owner, and only once its lease is given up.
            yield return Row(In(S, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "start a new secondary", StartSecondary);
            yield return Row(In(P, OwnObservation.QemuDead, PeerObservation.Unknown, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "start a new secondary", StartSecondary);
            yield return Row(In(P, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, epoch: EpochStanding.Stale) with { SecondaryWanted = true }, "release", ReleaseLease);
            yield return Row(In(P, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.NoOwner, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "nothing to guard");
            yield return Row(In(P, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.Unreachable, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "nothing to guard");
            yield return Row(In(P, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale), "nothing to guard");
            // A waiting secondary the owner left behind (it claimed again without it): replaced by a fresh one.
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true, AwaitsMigration = true }, "replaced by a fresh one", KillQemu);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Unknown, WitnessAnswer.OwnerIsPeer, LeaseRenewal.Renewed, EpochStanding.Stale) with { SecondaryWanted = true, AwaitsMigration = true }, "replaced by a fresh one", KillQemu, ReleaseLease);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale) with { AwaitsMigration = true }, "never takes over");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Current) with { SecondaryWanted = true, AwaitsMigration = true }, "no takeover before its lease is gone");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.NoOwner, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true, AwaitsMigration = true }, "never takes over");
            // A guard down or restarting beside a pair whose checkpoints still complete: the other side waits.
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.NoOwner) with { ColoFlows = true }, "checkpoints keep arriving");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.OwnerIsMe) with { ColoFlows = true }, "checkpoints keep completing");
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.NoOwner) with { ColoFlows = true }, "checkpoints keep completing");
            // Cut off, a checkpoint or not: the primary fences before its lease can expire.
            yield return Row(In(P, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.Unreachable, LeaseRenewal.AboutToExpire) with { ColoFlows = true }, "cut off", StopVm, ReleaseLease);
            // The secondary left behind by a cut link, re-protection on: ended once the owner is heard again, so a fresh one can start.
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "left behind", KillQemu);
            yield return Row(In(S, OwnObservation.ColoExitError, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, epoch: EpochStanding.Stale) with { SecondaryWanted = true }, "left behind", KillQemu, ReleaseLease);
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "never takes over");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.Unreachable, LeaseRenewal.None, EpochStanding.Stale) with { SecondaryWanted = true }, "never takes over");
            // A new secondary waits but is not named yet: it never takes over.
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None, EpochStanding.Stale), "never takes over");
            yield return Row(In(S, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.NoOwner, LeaseRenewal.Renewed, EpochStanding.Stale), "never takes over", ReleaseLease);
            // The survivor: a ready secondary is claimed before anything else, and not while the witness is unreachable.
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Answers, WitnessAnswer.OwnerIsMe, LeaseRenewal.FailingWithTimeLeft, ready: true), "new secondary is ready, but");
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Answers, WitnessAnswer.Unreachable, LeaseRenewal.FailingWithTimeLeft, ready: true), "no automatic failover", ReportWitnessUnreachable);
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Answers, WitnessAnswer.ClaimSucceeded), "waiting for a new secondary");
            yield return Row(In(P, OwnObservation.StandaloneRunning, PeerObservation.Answers, WitnessAnswer.ClaimSucceeded, LeaseRenewal.FailingWithTimeLeft, ready: true), "may not last");
            // Own QEMU gone or frozen.
            yield return Row(In(P, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.OwnerIsMe), "release", ReleaseLease);
            yield return Row(In(S, OwnObservation.QemuDead, PeerObservation.Answers, WitnessAnswer.OwnerIsPeer, LeaseRenewal.None), "nothing to guard");
            yield return Row(In(P, OwnObservation.Frozen, PeerObservation.Answers, WitnessAnswer.OwnerIsMe), "kill", KillQemu, ReleaseLease);
        }

        [Theory]
        [MemberData(nameof(Rows))]
        public void SpecificRows_DecideExactly(GuardInput input, GuardAction[] expected, string reasonPart)
        {
            var d = GuardModel.Decide(input);
            Assert.Equal(expected, d.Actions);
            Assert.Contains(reasonPart, d.Reason, StringComparison.OrdinalIgnoreCase);
        }

        [Fact]
        public void ClaimKeepsSecondary_OnlyForAPrimaryThatHearsIt()
        {
            Assert.True(GuardModel.ClaimKeepsSecondary(In(GuardRole.Primary, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.NoOwner) with { PeerFreshSecondary = true }));
            Assert.True(GuardModel.ClaimKeepsSecondary(In(GuardRole.Primary, OwnObservation.ProtectedPrimary, PeerObservation.Answers, WitnessAnswer.NoOwner)));
            Assert.True(GuardModel.ClaimKeepsSecondary(In(GuardRole.Primary, OwnObservation.ProtectedPrimary, PeerObservation.Unknown, WitnessAnswer.NoOwner)));
            Assert.False(GuardModel.ClaimKeepsSecondary(In(GuardRole.Primary, OwnObservation.ProtectedPrimary, PeerObservation.Silent, WitnessAnswer.OwnerIsMe)));
            Assert.False(GuardModel.ClaimKeepsSecondary(In(GuardRole.Secondary, OwnObservation.ProtectedSecondary, PeerObservation.Silent, WitnessAnswer.NoOwner)));
            Assert.False(GuardModel.ClaimKeepsSecondary(In(GuardRole.Primary, OwnObservation.ColoExitError, PeerObservation.Answers, WitnessAnswer.OwnerIsMe)));
        }

        private static PairState State(long epoch, string owner, string? primary, string? secondary, long secondarySince, string? liveOwner) => new()
        {
            Record = new PairEpochRecord { Epoch = epoch, Owner = owner, Primary = primary, Secondary = secondary, SecondarySince = secondarySince },
            LiveOwner = liveOwner,
        };

        [Theory]
        [InlineData("B", 1, 1, "A", "A", "B", 1, EpochStanding.Current)]  // the epoch it knows
        [InlineData("B", 1, 2, "A", "A", "B", 1, EpochStanding.Current)]  // its primary re-claimed with the same roles
        [InlineData("B", 1, 2, "A", "A", null, 0, EpochStanding.Stale)]   // left behind by a primary failover
        [InlineData("B", 1, 4, "A", "A", "B", 4, EpochStanding.Stale)]    // a resume named its site again: a new QEMU, not this one
        [InlineData("B", 4, 4, "A", "A", "B", 4, EpochStanding.Current)]
        [InlineData("A", 1, 2, "B", "B", null, 0, EpochStanding.Stale)]   // the old primary after the secondary took over
        [InlineData("B", 1, 2, "B", "B", null, 0, EpochStanding.Current)] // the one that claimed it
        [InlineData("A", 3, 2, "A", "A", "B", 1, EpochStanding.Stale)]    // a witness behind this side lost data
        public void Standing_FollowsTheRecord(string site, long myEpoch, long epoch, string owner, string? primary, string? secondary, long since, EpochStanding expected)
        {
            Assert.Equal(expected, GuardModel.Standing(site, myEpoch, State(epoch, owner, primary, secondary, since, null)));
        }

        [Fact]
        public void Answer_FromARead()
        {
            Assert.Equal(WitnessAnswer.OwnerIsMe, GuardModel.Answer("A", 1, State(1, "A", "A", "B", 1, "A")));
            Assert.Equal(WitnessAnswer.ClaimSucceeded, GuardModel.Answer("B", 1, State(2, "B", "B", null, 0, "B")));
            Assert.Equal(WitnessAnswer.OwnerIsPeer, GuardModel.Answer("B", 1, State(1, "A", "A", "B", 1, "A")));
            Assert.Equal(WitnessAnswer.NoOwner, GuardModel.Answer("B", 1, State(1, "A", "A", "B", 1, null)));
        }
    }
}
