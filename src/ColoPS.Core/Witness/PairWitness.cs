using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Witness
{
    /// <summary>
    /// One COLO pair's record on a shared etcd: every key under /colops/&lt;pair&gt;/, so one cluster
    /// serves many pairs. Two keys: "epoch" (durable, <see cref="PairEpochRecord"/>) and "owner"
    /// (the owning site's name, attached to its lease, so it vanishes when the owner stops renewing).
    /// </summary>
    public sealed class PairWitness
    {
        public const string DefaultRoot = "/colops/";

        private readonly EtcdClient _client;

        public PairWitness(EtcdClient client, string pair, string root = DefaultRoot)
        {
            _client = client ?? throw new ArgumentNullException(nameof(client));
            if (string.IsNullOrWhiteSpace(pair) || pair.Contains('/') || pair.Any(char.IsControl))
                throw new ArgumentException($"Pair name '{pair}' must be non-empty without '/' or control characters: it becomes a key prefix.", nameof(pair));
            if (!root.EndsWith('/')) root += "/";
            Pair = pair;
            // The trailing slash keeps pair "a" from matching pair "ab" in a prefix read.
            Prefix = root + pair + "/";
        }

        public string Pair { get; }
        public string Prefix { get; }
        public string EpochKey => Prefix + "epoch";
        public string OwnerKey => Prefix + "owner";
        public string ReadyKey => Prefix + "ready";

        public async Task<PairState> ReadAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            // One prefix read: both keys at one revision, so the record and the owner never disagree in time.
            var range = await _client.GetAsync(Prefix, prefix: true, timeout, cancellationToken).ConfigureAwait(false);
            var epoch = range.Kvs.FirstOrDefault(k => k.Key == EpochKey);
            var owner = range.Kvs.FirstOrDefault(k => k.Key == OwnerKey);
            var ready = range.Kvs.FirstOrDefault(k => k.Key == ReadyKey);
            return new PairState
            {
                Revision = range.Revision,
                Record = epoch == null ? null : PairEpochRecord.Parse(epoch.Value),
                RecordModRevision = epoch?.ModRevision ?? 0,
                LiveOwner = owner?.Value,
                OwnerLease = owner?.Lease ?? 0,
                OwnerModRevision = owner?.ModRevision ?? 0,
                Ready = ready == null ? null : SecondaryReady.Parse(ready.Value, ready.ModRevision),
            };
        }

        /// <summary>Announces a fresh secondary at site, made for the given epoch (see <see cref="SecondaryReady"/>).</summary>
        public Task<long> AnnounceSecondaryAsync(string site, long epoch, int qemuProcessId, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
            _client.PutAsync(ReadyKey, new SecondaryReady { Site = site, Epoch = epoch, QemuProcessId = qemuProcessId, At = DateTimeOffset.UtcNow }.ToJson(), 0, timeout, cancellationToken);

        /// <summary>
        /// Claims epoch expectedEpoch + 1 for site, with the given roles, under lease. One
        /// transaction: it commits only if the record and the owner key are exactly as read, which
        /// means the epoch is still expectedEpoch and the owner is nobody or site itself. Any other
        /// claim in between changes one of the two revisions, so of two racing claims one wins.
        /// </summary>
        public async Task<PairClaimResult> ClaimAsync(string site, long expectedEpoch, string? primary, string? secondary, string reason, long leaseId, TimeSpan? timeout = null, CancellationToken cancellationToken = default, bool newSecondary = false)
        {
            if (string.IsNullOrEmpty(site)) throw new ArgumentException("A site name is needed.", nameof(site));
            if (leaseId == 0) throw new ArgumentException("A claim needs a lease: an owner without one could never lose ownership.", nameof(leaseId));
            var state = await ReadAsync(timeout, cancellationToken).ConfigureAwait(false);
            if (state.Epoch != expectedEpoch)
                return new PairClaimResult(false, state, $"the epoch is {state.Epoch}, not {expectedEpoch}");
            if (state.HasLiveOwner && !state.IsOwnedBy(site))
                return new PairClaimResult(false, state, $"{state.LiveOwner} still holds the pair's lease");

            var record = new PairEpochRecord
            {
                Epoch = expectedEpoch + 1,
                Owner = site,
                Primary = primary,
                Secondary = secondary,
                // A new secondary QEMU at the same site joins now, not when the site was named before.
                SecondarySince = secondary != null && secondary == state.Record?.Secondary && !newSecondary ? state.Record.SecondarySince : (secondary == null ? 0 : expectedEpoch + 1),
                Reason = reason,
                ClaimedAt = DateTimeOffset.UtcNow,
            };
            var compares = new[]
            {
                EtcdCompare.ModRevisionEquals(EpochKey, state.RecordModRevision),
                EtcdCompare.ModRevisionEquals(OwnerKey, state.OwnerModRevision),
            };
            var success = new[] { EtcdOp.Put(EpochKey, record.ToJson()), EtcdOp.Put(OwnerKey, site, leaseId) };
            try
            {
                var txn = await _client.TxnAsync(compares, success, Array.Empty<EtcdOp>(), timeout, cancellationToken).ConfigureAwait(false);
                var after = await ReadAfterAsync(timeout, cancellationToken).ConfigureAwait(false);
                return txn.Succeeded
                    ? new PairClaimResult(true, after ?? Claimed(state, record, site, leaseId, txn.Revision), $"claimed epoch {record.Epoch}")
                    : new PairClaimResult(false, after ?? state, "another claim changed the pair first");
            }
            catch (WitnessException e) when (e.IsTransient)
            {
                // The transaction may have been applied without its answer reaching us (a member died
                // after proposing it). Read back: our epoch with our lease means it did commit.
                PairState now;
                try { now = await ReadAsync(timeout, cancellationToken).ConfigureAwait(false); }
                catch (WitnessException) { throw e; }
                if (now.Epoch == expectedEpoch + 1 && now.IsOwnedBy(site) && now.OwnerLease == leaseId)
                    return new PairClaimResult(true, now, $"claimed epoch {record.Epoch} (confirmed by reading back after: {e.Message})");
                throw;
            }
        }

        private async Task<PairState?> ReadAfterAsync(TimeSpan? timeout, CancellationToken cancellationToken)
        {
            // Only to report the state; the transaction's own answer is what decides.
            try { return await ReadAsync(timeout, cancellationToken).ConfigureAwait(false); }
            catch (WitnessException) { return null; }
        }

        private PairState Claimed(PairState before, PairEpochRecord record, string site, long lease, long revision) => before with
        {
            Revision = revision,
            Record = record,
            RecordModRevision = revision,
            LiveOwner = site,
            OwnerLease = lease,
            OwnerModRevision = revision,
        };

        /// <summary>Waits until anything under the pair's prefix changes after a revision (an expiring owner lease shows as a change too).</summary>
        public Task<EtcdChanges> WaitForChangeAsync(long afterRevision, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            _client.WaitForChangeAsync(Prefix, prefix: true, afterRevision, timeout, cancellationToken);
    }
}
