using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>The role this side had in the pair's current epoch (what it was before COLO broke).</summary>
    public enum GuardRole { Primary, Secondary }

    /// <summary>What this side's own QEMU looks like on this tick.</summary>
    public enum OwnObservation
    {
        /// <summary>query-colo-status mode primary, migration status colo.</summary>
        ProtectedPrimary,
        /// <summary>query-colo-status mode secondary.</summary>
        ProtectedSecondary,
        /// <summary>COLO_EXIT with reason error was seen: the peer or the link between them is gone.</summary>
        ColoExitError,
        /// <summary>The process is gone.</summary>
        QemuDead,
        /// <summary>COLO mode none, VM running: this side runs the VM alone.</summary>
        StandaloneRunning,
        /// <summary>The process lives but QMP does not answer in time (a QMP watchdog fired).</summary>
        Frozen,
    }

    /// <summary>Whether the peer's VM is alive and running, as this side can see it directly.</summary>
    public enum PeerObservation
    {
        Answers,
        Silent,
        Unknown,
        /// <summary>
        /// Nothing heard from the peer's guard since this guard started, and the grace for a first
        /// heartbeat has passed: a guard restarted during a cut. It may also be a peer guard that is
        /// simply not running, so it counts as silent only where that can do no harm: for the
        /// self-fence of a primary that cannot keep its lease.
        /// </summary>
        NeverHeard,
    }

    /// <summary>What the witness said on this tick, relative to this side.</summary>
    public enum WitnessAnswer
    {
        /// <summary>This side's lease holds the owner key of the epoch it knows (nothing claimed since).</summary>
        OwnerIsMe,
        /// <summary>The peer's lease holds the owner key.</summary>
        OwnerIsPeer,
        /// <summary>No lease holds the owner key (the owner's lease expired or was released).</summary>
        NoOwner,
        /// <summary>No witness member answered.</summary>
        Unreachable,
        /// <summary>This side's claim of a new epoch committed: it owns an epoch newer than the one it was protected in.</summary>
        ClaimSucceeded,
        /// <summary>This side's claim lost: the epoch moved or the other side holds the lease.</summary>
        ClaimConflict,
    }

    /// <summary>Current: the witness's epoch is this side's, or a newer one whose roles name this side. Stale: the pair moved on without it.</summary>
    public enum EpochStanding { Current, Stale }

    /// <summary>The fencing hook's outcome for the takeover under way.</summary>
    public enum FenceHookResult { NotRun, Succeeded, Failed }

    /// <summary>
    /// Everything the guard knows on one tick; the model needs nothing else, so every row of the table is one of these.
    /// NewSecondaryReady: the peer's site announced a new secondary for this side's epoch (or the
    /// epoch this side claimed naming it). SecondaryWanted: re-protection is configured, no QEMU runs
    /// here or only a secondary the owner left behind, and the witness shows the peer owning a
    /// newer epoch that has no secondary (or names this site while no QEMU runs here) and no
    /// secondary of this site announced for it yet. PeerFreshSecondary: the
    /// peer's QEMU is the fresh secondary the witness announces at the peer's site (its ready key),
    /// which holds none of the VM until a migration fills it; what Peer says is about that QEMU.
    /// AwaitsMigration: this side's QEMU is a secondary that never received the VM (inmigrate, never
    /// in COLO); with SecondaryWanted it is one the owner gave up on, which a fresh one replaces.
    /// ColoFlows: this side is in COLO and a checkpoint completed here within about one checkpoint
    /// interval, so the peer's QEMU lives and the link between them works whatever the peer's guard
    /// says (it may be down or restarting).
    /// </summary>
    public sealed record GuardInput(
        GuardRole Role,
        OwnObservation Own,
        PeerObservation Peer,
        WitnessAnswer Witness,
        LeaseRenewal Lease,
        EpochStanding Epoch = EpochStanding.Current,
        FenceHookResult Fence = FenceHookResult.NotRun,
        bool NewSecondaryReady = false,
        bool SecondaryWanted = false,
        bool PeerFreshSecondary = false,
        bool AwaitsMigration = false,
        bool ColoFlows = false)
    {
        /// <summary>
        /// What the peer means to this side. To a secondary asking whether the old primary's VM still
        /// runs, a fresh secondary there is not that VM: the old one is gone (one QEMU per site). To a
        /// primary the same QEMU is its secondary, heard as alive once the resume made it one.
        /// </summary>
        public PeerObservation PeerVm => PeerFreshSecondary && (Own == OwnObservation.ProtectedSecondary || (Own == OwnObservation.ColoExitError && Role == GuardRole.Secondary))
            ? PeerObservation.Silent : Peer;

        /// <summary>
        /// True when this side's VM may put packets on the network by itself: a primary (in COLO or
        /// just out of it), a side running alone, or one frozen in an unknown state. A secondary's
        /// output goes nowhere until it takes over.
        /// </summary>
        public bool MayProduceOutput => Own is OwnObservation.ProtectedPrimary or OwnObservation.StandaloneRunning or OwnObservation.Frozen
            || (Own == OwnObservation.ColoExitError && Role == GuardRole.Primary);

        public override string ToString() =>
            $"{Role}/{Own} peer={Peer} witness={Witness} lease={Lease} epoch={Epoch} fence={Fence} ready={NewSecondaryReady} wanted={SecondaryWanted} flows={ColoFlows}" + (PeerFreshSecondary ? " peer=fresh secondary" : "") + (AwaitsMigration ? " awaits-migration" : "");
    }
}
