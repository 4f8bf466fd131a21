using System;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Witness
{
    // Posts one JSON request to etcd's gRPC gateway, trying the members in turn until one answers
    // or the call's budget runs out. Everything the guard must tell apart (a member down, a member
    // without quorum, a lease that is gone, our own time running out) becomes a WitnessErrorKind here.
    internal sealed class EtcdGateway : IDisposable
    {
        private readonly EtcdClientOptions _options;
        private readonly HttpClient _http;
        private int _preferred;

        public EtcdGateway(EtcdClientOptions options)
        {
            _options = options;
            var handler = new SocketsHttpHandler
            {
                // A refused or black-holed member must fail within one attempt, not the OS's minutes.
                ConnectTimeout = options.AttemptTimeout,
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
                UseProxy = false,
            };
            // Timeouts are per call and per attempt below; the client-wide one would only get in the way.
            _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        }

        public EtcdClientOptions Options => _options;

        /// <summary>The member that answered last; calls start there.</summary>
        public Uri PreferredEndpoint => _options.Endpoints[Volatile.Read(ref _preferred)];

        public async Task<JsonElement> PostAsync(string path, JsonObject body, TimeSpan? timeout, CancellationToken cancellationToken)
        {
            var budget = timeout ?? _options.CallTimeout;
            using var callCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            callCts.CancelAfter(budget);
            var payload = body.ToJsonString();
            int count = _options.Endpoints.Count;
            int start = Volatile.Read(ref _preferred);
            WitnessException? last = null;

            for (int round = 0; ; round++)
            {
                for (int i = 0; i < count; i++)
                {
                    int index = (start + i) % count;
                    var endpoint = _options.Endpoints[index];
                    try
                    {
                        var result = await AttemptAsync(endpoint, path, payload, callCts.Token).ConfigureAwait(false);
                        Volatile.Write(ref _preferred, index);
                        return result;
                    }
                    catch (WitnessException e) when (e.IsTransient)
                    {
                        last = e;
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The call's budget, not the caller, ended it.
                        throw TimedOut(path, budget, last);
                    }
                    if (callCts.IsCancellationRequested) break;
                }
                cancellationToken.ThrowIfCancellationRequested();
                if (callCts.IsCancellationRequested) throw TimedOut(path, budget, last);
                try
                {
                    await Task.Delay(_options.RoundPause, callCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw TimedOut(path, budget, last);
                }
            }
        }

        private static WitnessException TimedOut(string path, TimeSpan budget, WitnessException? last)
        {
            // When every member refused outright the cluster is unreachable, whatever the clock says;
            // a timeout means someone may have been about to answer (or applied the write unanswered).
            if (last is { Kind: WitnessErrorKind.Unreachable })
                return new WitnessException("WitnessUnreachable", WitnessErrorKind.Unreachable,
                    $"No etcd member answered {path} within {budget.TotalSeconds:0.###} s: {last.Message}", last) { Endpoint = last.Endpoint };
            if (last is { Kind: WitnessErrorKind.Unavailable })
                return new WitnessException("WitnessUnavailable", WitnessErrorKind.Unavailable,
                    $"No etcd member could serve {path} within {budget.TotalSeconds:0.###} s: {last.Message}", last) { Endpoint = last.Endpoint };
            return new WitnessException("WitnessTimeout", WitnessErrorKind.Timeout,
                $"etcd did not answer {path} within {budget.TotalSeconds:0.###} s.", last) { Endpoint = last?.Endpoint };
        }

        private async Task<JsonElement> AttemptAsync(Uri endpoint, string path, string payload, CancellationToken callToken)
        {
            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(callToken);
            attemptCts.CancelAfter(_options.AttemptTimeout);
            var uri = new Uri(endpoint, path);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, attemptCts.Token).ConfigureAwait(false);
                var text = await response.Content.ReadAsStringAsync(attemptCts.Token).ConfigureAwait(false);
                JsonElement json;
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    json = doc.RootElement.Clone();
                }
                catch (JsonException e)
                {
                    // A proxy's HTML page or a half-closed stream: not an etcd answer, try another member.
                    throw new WitnessException("WitnessBadReply", WitnessErrorKind.Unavailable,
                        $"{uri} answered HTTP {(int)response.StatusCode} with something that is not JSON.", e) { Endpoint = endpoint };
                }
                if (response.StatusCode == HttpStatusCode.OK && !json.TryGetProperty("error", out _)) return json;
                throw MapError(endpoint, path, response.StatusCode, json);
            }
            catch (OperationCanceledException) when (!callToken.IsCancellationRequested)
            {
                throw new WitnessException("WitnessAttemptTimeout", WitnessErrorKind.Timeout,
                    $"{uri} did not answer within {_options.AttemptTimeout.TotalMilliseconds:0} ms.") { Endpoint = endpoint };
            }
            catch (HttpRequestException e)
            {
                throw new WitnessException("WitnessUnreachable", WitnessErrorKind.Unreachable, $"{uri}: {e.Message}", e) { Endpoint = endpoint };
            }
        }

        internal static WitnessException MapError(Uri endpoint, string path, HttpStatusCode status, JsonElement json)
        {
            var message = EtcdJson.GetString(json, "message") ?? EtcdJson.GetString(json, "error") ?? $"HTTP {(int)status}";
            long code = json.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt64() : -1;
            // gRPC status codes: 5 NotFound, 4 DeadlineExceeded, 14 Unavailable, 8 ResourceExhausted,
            // 10 Aborted, 2 Unknown (etcd wraps "no leader" and "request timed out" in it on 3.4).
            if (code == 5 && message.Contains("lease", StringComparison.OrdinalIgnoreCase))
                return new WitnessException("WitnessLeaseNotFound", WitnessErrorKind.LeaseNotFound, $"{path}: {message}") { Endpoint = endpoint };
            bool transient = code is 4 or 14 or 8 or 10 or 2 || (int)status >= 500
                || message.Contains("leader", StringComparison.OrdinalIgnoreCase)
                || message.Contains("timed out", StringComparison.OrdinalIgnoreCase);
            if (transient)
                return new WitnessException("WitnessUnavailable", WitnessErrorKind.Unavailable, $"{endpoint} cannot serve {path}: {message}") { Endpoint = endpoint };
            return new WitnessException("WitnessRequestRejected", WitnessErrorKind.Protocol, $"etcd refused {path}: {message}") { Endpoint = endpoint };
        }

        /// <summary>Opens a streaming request on one member (the watch); the caller reads and disposes the response.</summary>
        public async Task<HttpResponseMessage> OpenStreamAsync(Uri endpoint, string path, JsonObject body, CancellationToken cancellationToken)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, path)) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
            // Without it a member cut off from the quorum keeps the watch open and silent, so a change
            // made on the majority side would never show; with it the member ends the watch instead.
            request.Headers.TryAddWithoutValidation("Grpc-Metadata-hasleader", "true");
            try
            {
                var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                    response.Dispose();
                    using var doc = JsonDocument.Parse(text.Length > 0 ? text : "{}");
                    throw MapError(endpoint, path, response.StatusCode, doc.RootElement);
                }
                return response;
            }
            catch (HttpRequestException e)
            {
                throw new WitnessException("WitnessUnreachable", WitnessErrorKind.Unreachable, $"{endpoint}{path}: {e.Message}", e) { Endpoint = endpoint };
            }
            finally
            {
                request.Dispose();
            }
        }

        public void Dispose() => _http.Dispose();
    }
}
