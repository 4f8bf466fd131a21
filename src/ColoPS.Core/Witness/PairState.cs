using System;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ColoPS.Witness
{
    /// <summary>
    /// The pair's durable record (key &lt;prefix&gt;epoch, no lease): which epoch the pair is in, which
    /// site claimed it, and the roles of that epoch. It outlives every lease, so the epoch can only
    /// grow even when no side owns the pair.
    /// </summary>
    public sealed record PairEpochRecord
    {
        [JsonPropertyName("epoch")] public long Epoch { get; init; }
        /// <summary>The site that claimed this epoch.</summary>
        [JsonPropertyName("owner")] public string Owner { get; init; } = "";
        [JsonPropertyName("primary")] public string? Primary { get; init; }
        /// <summary>Null while the owner runs alone.</summary>
        [JsonPropertyName("secondary")] public string? Secondary { get; init; }
        /// <summary>
        /// The epoch in which the secondary joined. A claim that keeps the same secondary keeps it,
        /// so a secondary stays current across its primary's re-claims, while a secondary left behind
        /// and later named again (a new QEMU at the same site) is told apart from the old one.
        /// </summary>
        [JsonPropertyName("secondarySince")] public long SecondarySince { get; init; }
        /// <summary>Why the epoch began: protect, failover, resume...</summary>
        [JsonPropertyName("reason")] public string Reason { get; init; } = "";
        [JsonPropertyName("claimedAt")] public DateTimeOffset ClaimedAt { get; init; }

        internal string ToJson() => JsonSerializer.Serialize(this);

        internal static PairEpochRecord Parse(string json)
        {
            try
            {
                return JsonSerializer.Deserialize<PairEpochRecord>(json) ?? throw new JsonException("null record");
            }
            catch (JsonException e)
            {
                throw new WitnessException("WitnessBadRecord", WitnessErrorKind.Protocol, $"The pair's epoch record is not valid JSON: {e.Message}", e);
            }
        }
    }

    /// <summary>The pair as the witness sees it at one revision: the epoch record and the live owner (the key held by a lease).</summary>
    public sealed record PairState
    {
        /// <summary>The store's revision the two keys were read at.</summary>
        public long Revision { get; init; }
        /// <summary>Null before the first claim (epoch 0).</summary>
        public PairEpochRecord? Record { get; init; }
        public long Epoch => Record?.Epoch ?? 0;
        /// <summary>0 when the record does not exist yet; the claim's compare uses it.</summary>
        public long RecordModRevision { get; init; }
        /// <summary>The site whose lease holds the owner key, or null when no lease does (expired, revoked, never).</summary>
        public string? LiveOwner { get; init; }
        public long OwnerLease { get; init; }
        public long OwnerModRevision { get; init; }
        /// <summary>The last secondary a site announced (key ready), or null.</summary>
        public SecondaryReady? Ready { get; init; }

        public bool HasLiveOwner => LiveOwner != null;

        public bool IsOwnedBy(string site) => string.Equals(LiveOwner, site, StringComparison.Ordinal);

        /// <summary>True when the current epoch's roles name this site.</summary>
        public bool IsMember(string site) => Record != null
            && (string.Equals(Record.Primary, site, StringComparison.Ordinal) || string.Equals(Record.Secondary, site, StringComparison.Ordinal));

        public override string ToString() =>
            $"epoch {Epoch} ({Record?.Reason ?? "none"}, primary {Record?.Primary ?? "-"}, secondary {Record?.Secondary ?? "-"}), owner {LiveOwner ?? "none"}{(Ready == null ? "" : ", " + Ready)} @rev {Revision}";
    }

    /// <summary>What a claim did. State is the record after the claim when it succeeded, else the one that beat it.</summary>
    public sealed record PairClaimResult(bool Succeeded, PairState State, string Reason);
}
