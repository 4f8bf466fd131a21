using System;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ColoPS.Witness
{
    /// <summary>
    /// Key &lt;prefix&gt;ready: a site's guard says a fresh secondary waits there for the owner's
    /// migration. It names the epoch it was made for, so the owner never resumes to a secondary
    /// meant for an epoch that has moved on. Durable: the secondary outlives its guard.
    /// </summary>
    public sealed record SecondaryReady
    {
        [JsonPropertyName("site")] public string Site { get; init; } = "";
        [JsonPropertyName("epoch")] public long Epoch { get; init; }
        [JsonPropertyName("qemuPid")] public int QemuProcessId { get; init; }
        [JsonPropertyName("at")] public DateTimeOffset At { get; init; }
        /// <summary>The key's mod revision when read: tells one announcement from the next for the same epoch.</summary>
        [JsonIgnore] public long ModRevision { get; init; }

        internal string ToJson() => JsonSerializer.Serialize(this);

        internal static SecondaryReady? Parse(string json, long modRevision)
        {
            // A value this version cannot read announces nothing: the owner then waits, which is safe.
            try { return JsonSerializer.Deserialize<SecondaryReady>(json) is { } r ? r with { ModRevision = modRevision } : null; }
            catch (JsonException) { return null; }
        }

        public override string ToString() => $"secondary at {Site} ready for epoch {Epoch} (QEMU {QemuProcessId})";
    }
}
