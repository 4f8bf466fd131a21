using System.Collections.Generic;
using System.Text.Json.Nodes;

namespace ColoPS.Witness
{
    /// <summary>One condition of a transaction; all of a transaction's conditions must hold (etcd has no OR).</summary>
    public sealed class EtcdCompare
    {
        private EtcdCompare(JsonObject json) { Json = json; }

        internal JsonObject Json { get; }

        /// <summary>The key was last written at this revision; 0 means the key does not exist.</summary>
        public static EtcdCompare ModRevisionEquals(string key, long revision) =>
            new(new JsonObject { ["key"] = EtcdJson.Encode(key), ["target"] = "MOD", ["result"] = "EQUAL", ["mod_revision"] = EtcdJson.Int(revision) });

        /// <summary>The key was created at this revision; 0 means the key does not exist.</summary>
        public static EtcdCompare CreateRevisionEquals(string key, long revision) =>
            new(new JsonObject { ["key"] = EtcdJson.Encode(key), ["target"] = "CREATE", ["result"] = "EQUAL", ["create_revision"] = EtcdJson.Int(revision) });

        public static EtcdCompare ValueEquals(string key, string value) =>
            new(new JsonObject { ["key"] = EtcdJson.Encode(key), ["target"] = "VALUE", ["result"] = "EQUAL", ["value"] = EtcdJson.Encode(value) });
    }

    /// <summary>One operation of a transaction's success or failure branch.</summary>
    public sealed class EtcdOp
    {
        private EtcdOp(JsonObject json) { Json = json; }

        internal JsonObject Json { get; }

        public static EtcdOp Put(string key, string value, long lease = 0)
        {
            var put = new JsonObject { ["key"] = EtcdJson.Encode(key), ["value"] = EtcdJson.Encode(value) };
            if (lease != 0) put["lease"] = EtcdJson.Int(lease);
            return new(new JsonObject { ["request_put"] = put });
        }

        public static EtcdOp Get(string key) => new(new JsonObject { ["request_range"] = new JsonObject { ["key"] = EtcdJson.Encode(key) } });

        public static EtcdOp Delete(string key) => new(new JsonObject { ["request_delete_range"] = new JsonObject { ["key"] = EtcdJson.Encode(key) } });
    }

    /// <summary>What a transaction did: which branch ran, at which revision, and the keys its Get operations read.</summary>
    public sealed record EtcdTxnResult(bool Succeeded, long Revision, IReadOnlyList<IReadOnlyList<EtcdKeyValue>> Ranges);

    /// <summary>A key range read at one revision of the store.</summary>
    public sealed record EtcdRange(long Revision, IReadOnlyList<EtcdKeyValue> Kvs);

    /// <summary>One change seen by a watch: a put or a delete (a lease expiry shows as a delete).</summary>
    public sealed record EtcdEvent(bool IsDelete, EtcdKeyValue Kv);

    /// <summary>What a wait for change saw: the events, or none when the time ran out; Compacted when the history asked for is gone (read again).</summary>
    public sealed record EtcdChanges(long Revision, IReadOnlyList<EtcdEvent> Events, bool Compacted);

    /// <summary>A granted lease: its id and the TTL the server gave (it may raise a TTL below its minimum).</summary>
    public sealed record EtcdLeaseGrant(long Id, System.TimeSpan Ttl);
}
