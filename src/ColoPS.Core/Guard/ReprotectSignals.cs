using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>
    /// The two re-protection inputs of <see cref="GuardInput"/>, read from the witness. Both sides
    /// go by the epoch record and the ready key only, so two hosts need nothing else between them.
    /// </summary>
    public static class ReprotectSignals
    {
        /// <summary>
        /// For the site whose QEMU is gone: the peer is the live owner, primary of its epoch, with
        /// no secondary (or this site named while nothing runs here), and nothing of this site is
        /// announced for that epoch yet.
        /// </summary>
        public static bool SecondaryWanted(string site, PairState state)
        {
            var r = state.Record;
            if (r == null || !state.HasLiveOwner || state.IsOwnedBy(site)) return false;
            if (r.Owner != state.LiveOwner || r.Primary != state.LiveOwner) return false;
            if (r.Secondary != null && r.Secondary != site) return false;
            return !(state.Ready?.Site == site && state.Ready.Epoch == state.Epoch);
        }

        /// <summary>
        /// For a site whose QEMU is a secondary that never received the VM and that no epoch named
        /// (one its guard started for an older epoch, or one an operator started by hand): the
        /// peer is the live owner running alone, and this QEMU is not announced for that epoch yet.
        /// Announcing it again lets a survivor that claimed once more after it was started use it.
        /// </summary>
        public static bool AnnounceWaitingSecondary(string site, int qemuProcessId, PairState state)
        {
            var r = state.Record;
            if (r == null || !state.HasLiveOwner || state.IsOwnedBy(site)) return false;
            if (r.Owner != state.LiveOwner || r.Primary != state.LiveOwner || r.Secondary != null) return false;
            var ready = state.Ready;
            return !(ready != null && ready.Site == site && ready.Epoch == state.Epoch && ready.QemuProcessId == qemuProcessId);
        }

        /// <summary>
        /// For the owner running alone. Before its claim (named false): the peer announced a
        /// secondary for the epoch this side owns. After it (named true): the epoch this side
        /// claimed names the peer as a secondary that joins now, and the announcement was for the
        /// epoch before. An announcement whose resume failed (failedRevision) is not used again.
        /// </summary>
        public static bool NewSecondaryReady(string site, string peer, PairState state, bool named, long failedRevision)
        {
            var r = state.Record;
            var ready = state.Ready;
            if (r == null || ready == null || ready.Site != peer || ready.ModRevision == failedRevision) return false;
            if (!state.IsOwnedBy(site) || r.Owner != site || r.Primary != site) return false;
            return named
                ? ready.Epoch + 1 == state.Epoch && r.Secondary == peer && r.SecondarySince == state.Epoch
                : ready.Epoch == state.Epoch && (r.Secondary == null || r.Secondary == peer);
        }
    }
}
