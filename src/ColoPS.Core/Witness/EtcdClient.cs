using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Witness
{
    /// <summary>
    /// A small etcd v3 client over the JSON gateway (/v3/...) that every etcd member serves on its
    /// client URL. Why not gRPC (dotnet-etcd 10.0.0, MIT, on Grpc.Net.Client and Google.Protobuf):
    /// that client is complete and handles streams well, but it would load gRPC and Protobuf into
    /// every pwsh process that imports ColoPS, where another module's different Protobuf version
    /// breaks one of the two (no assembly isolation in a PowerShell session), and its member
    /// failover rides on gRPC's load balancer, which we would have to configure to behave as below
    /// anyway. The guard needs ten calls; over the gateway they are plain HTTP/1.1 POSTs against
    /// one URL per member, with our own timeouts, and they work with etcd 3.4's /v3/ gateway
    /// as Debian 12 ships it.
    /// </summary>
    public sealed class EtcdClient : IDisposable
    {
        private readonly EtcdGateway _gateway;

        public EtcdClient(EtcdClientOptions options)
        {
            _gateway = new EtcdGateway(options ?? throw new ArgumentNullException(nameof(options)));
        }

        public EtcdClientOptions Options => _gateway.Options;

        /// <summary>The member the next call tries first.</summary>
        public Uri PreferredEndpoint => _gateway.PreferredEndpoint;

        public async Task<EtcdLeaseGrant> GrantLeaseAsync(TimeSpan ttl, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            long seconds = Math.Max(1, (long)Math.Ceiling(ttl.TotalSeconds));
            var json = await _gateway.PostAsync("/v3/lease/grant", new JsonObject { ["TTL"] = EtcdJson.Int(seconds) }, timeout, cancellationToken).ConfigureAwait(false);
            long id = EtcdJson.GetInt64(json, "ID");
            if (id == 0) throw new WitnessException("WitnessBadReply", WitnessErrorKind.Protocol, "etcd granted a lease without an id.");
            return new EtcdLeaseGrant(id, TimeSpan.FromSeconds(EtcdJson.GetInt64(json, "TTL")));
        }

        /// <summary>Renews a lease once; returns the TTL the server restarted it with. Throws LeaseNotFound when it is gone.</summary>
        public async Task<TimeSpan> KeepAliveOnceAsync(long leaseId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            // The gateway maps the bidirectional stream to one request and one "result" per message sent.
            var json = await _gateway.PostAsync("/v3/lease/keepalive", new JsonObject { ["ID"] = EtcdJson.Int(leaseId) }, timeout, cancellationToken).ConfigureAwait(false);
            var result = json.TryGetProperty("result", out var r) ? r : json;
            long ttl = EtcdJson.GetInt64(result, "TTL");
            // An unknown or expired lease comes back with no TTL (0), not as an error.
            if (ttl <= 0) throw new WitnessException("WitnessLeaseNotFound", WitnessErrorKind.LeaseNotFound, $"Lease {leaseId:x} has expired or was revoked.");
            return TimeSpan.FromSeconds(ttl);
        }

        /// <summary>Revokes a lease and deletes its keys at once. False when it was already gone.</summary>
        public async Task<bool> RevokeLeaseAsync(long leaseId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            try
            {
                await _gateway.PostAsync("/v3/lease/revoke", new JsonObject { ["ID"] = EtcdJson.Int(leaseId) }, timeout, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (WitnessException e) when (e.Kind == WitnessErrorKind.LeaseNotFound)
            {
                return false;
            }
        }

        /// <summary>The seconds a lease has left on the server, or null when it is gone.</summary>
        public async Task<TimeSpan?> TimeToLiveAsync(long leaseId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            var json = await _gateway.PostAsync("/v3/lease/timetolive", new JsonObject { ["ID"] = EtcdJson.Int(leaseId) }, timeout, cancellationToken).ConfigureAwait(false);
            long ttl = EtcdJson.GetInt64(json, "TTL");
            return ttl < 0 ? null : TimeSpan.FromSeconds(ttl);
        }

        /// <summary>A linearizable read of one key, or of every key under a prefix.</summary>
        public async Task<EtcdRange> GetAsync(string key, bool prefix = false, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            var body = new JsonObject { ["key"] = EtcdJson.Encode(key) };
            if (prefix) body["range_end"] = EtcdJson.PrefixEnd(key);
            var json = await _gateway.PostAsync("/v3/kv/range", body, timeout, cancellationToken).ConfigureAwait(false);
            return new EtcdRange(EtcdJson.HeaderRevision(json), EtcdJson.ReadKeyValues(json));
        }

        /// <summary>Writes a key (with a lease when given); returns the store's revision after the write.</summary>
        public async Task<long> PutAsync(string key, string value, long lease = 0, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            var body = new JsonObject { ["key"] = EtcdJson.Encode(key), ["value"] = EtcdJson.Encode(value) };
            if (lease != 0) body["lease"] = EtcdJson.Int(lease);
            var json = await _gateway.PostAsync("/v3/kv/put", body, timeout, cancellationToken).ConfigureAwait(false);
            return EtcdJson.HeaderRevision(json);
        }

        /// <summary>If every compare holds, the success operations run, else the failure ones; atomically.</summary>
        public async Task<EtcdTxnResult> TxnAsync(IEnumerable<EtcdCompare> compare, IEnumerable<EtcdOp> success, IEnumerable<EtcdOp> failure, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            var body = new JsonObject { ["compare"] = ToArray(compare, c => c.Json), ["success"] = ToArray(success, o => o.Json), ["failure"] = ToArray(failure, o => o.Json) };
            var json = await _gateway.PostAsync("/v3/kv/txn", body, timeout, cancellationToken).ConfigureAwait(false);
            var ranges = new List<IReadOnlyList<EtcdKeyValue>>();
            if (json.TryGetProperty("responses", out var responses) && responses.ValueKind == JsonValueKind.Array)
            {
                foreach (var r in responses.EnumerateArray())
                {
                    if (r.TryGetProperty("response_range", out var range)) ranges.Add(EtcdJson.ReadKeyValues(range));
                }
            }
            return new EtcdTxnResult(EtcdJson.GetBool(json, "succeeded"), EtcdJson.HeaderRevision(json), ranges);
        }

        private static JsonArray ToArray<T>(IEnumerable<T> items, Func<T, JsonObject> json)
        {
            var array = new JsonArray();
            // DeepClone: a JsonNode has one parent, and the same compare may be used in two transactions.
            foreach (var item in items) array.Add(json(item).DeepClone());
            return array;
        }

        /// <summary>
        /// Waits until a key (or prefix) changes after a revision, or the time runs out (then no events).
        /// A watch stream on one member; when that member fails, the next one is asked from the same
        /// revision, so no change in between is lost.
        /// </summary>
        public async Task<EtcdChanges> WaitForChangeAsync(string key, bool prefix, long afterRevision, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            var create = new JsonObject { ["key"] = EtcdJson.Encode(key), ["start_revision"] = EtcdJson.Int(afterRevision + 1) };
            if (prefix) create["range_end"] = EtcdJson.PrefixEnd(key);
            var body = new JsonObject { ["create_request"] = create };
            var endpoints = _gateway.Options.Endpoints;
            int start = Math.Max(0, System.Linq.Enumerable.ToList(endpoints).IndexOf(_gateway.PreferredEndpoint));
            var stood = new StrongBox<bool>();
            WitnessException? last = null;
            for (int attempt = 0; !cts.IsCancellationRequested; attempt++)
            {
                var endpoint = endpoints[(start + attempt) % endpoints.Count];
                try
                {
                    var changes = await WatchOnceAsync(endpoint, body, stood, cts.Token).ConfigureAwait(false);
                    if (changes != null) return changes;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (WitnessException e) when (e.IsTransient)
                {
                    last = e;
                    if (attempt % endpoints.Count == endpoints.Count - 1)
                    {
                        try { await Task.Delay(_gateway.Options.RoundPause, cts.Token).ConfigureAwait(false); }
                        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { break; }
                    }
                }
                catch (IOException e)
                {
                    last = new WitnessException("WitnessUnreachable", WitnessErrorKind.Unreachable, $"The watch on {endpoint} broke: {e.Message}", e) { Endpoint = endpoint };
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            // "Nothing changed" is only true if a watch stood somewhere; otherwise the witness was not there to ask.
            if (!stood.Value && last != null) throw last;
            return new EtcdChanges(afterRevision, Array.Empty<EtcdEvent>(), false);
        }

        private async Task<EtcdChanges?> WatchOnceAsync(Uri endpoint, JsonObject body, StrongBox<bool> stood, CancellationToken token)
        {
            using var response = await _gateway.OpenStreamAsync(endpoint, "/v3/watch", body, token).ConfigureAwait(false);
            using var stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (true)
            {
                var line = await reader.ReadLineAsync(token).ConfigureAwait(false);
                if (line == null) return null; // the member closed the stream: try again (elsewhere)
                if (line.Length == 0) continue;
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.TryGetProperty("error", out _))
                    throw EtcdGateway.MapError(endpoint, "/v3/watch", System.Net.HttpStatusCode.OK, root.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.Object ? err : root);
                if (!root.TryGetProperty("result", out var result)) continue;
                if (EtcdJson.GetBool(result, "created")) stood.Value = true;
                long compact = EtcdJson.GetInt64(result, "compact_revision");
                if (compact != 0) return new EtcdChanges(EtcdJson.HeaderRevision(result), Array.Empty<EtcdEvent>(), true);
                if (!result.TryGetProperty("events", out var events) || events.ValueKind != JsonValueKind.Array) continue;
                var list = new List<EtcdEvent>();
                foreach (var e in events.EnumerateArray())
                {
                    bool delete = EtcdJson.GetString(e, "type") == "DELETE";
                    list.Add(new EtcdEvent(delete, EtcdJson.ReadKeyValue(e.GetProperty("kv"))));
                }
                if (list.Count > 0) return new EtcdChanges(EtcdJson.HeaderRevision(result), list, false);
            }
        }

        public void Dispose() => _gateway.Dispose();
    }
}
