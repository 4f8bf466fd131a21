using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// Whether the peer of a node still answers QMP: then a failover would leave two live copies.
    /// A frozen or dead peer does not answer. A session this process already holds to the peer is
    /// used when there is one, because QEMU's monitor serves one client at a time.
    /// </summary>
    public sealed class PeerProbe
    {
        private readonly ColoHost _host;
        private readonly ColoTimeouts _timeouts;

        public PeerProbe(ColoHost host, ColoTimeouts timeouts)
        {
            _host = host;
            _timeouts = timeouts;
        }

        public Task<PeerProbeResult> ProbeAsync(ColoNode node, CancellationToken ct)
            => node.IsRemote && node.Session.Endpoint.Tls != null
                ? ProbeRemoteAsync(node.Config, node.Site, node.Session.Endpoint.Tls, ct)
                : ProbeAsync(node.Config, node.Site, ct);

        /// <summary>
        /// The peer of a remote node, through the peer site's remote monitor with the same
        /// certificate. No process to look at from here: only whether its monitor answers.
        /// </summary>
        public async Task<PeerProbeResult> ProbeRemoteAsync(ColoConfig config, ColoSite site, QmpTlsOptions tls, CancellationToken ct)
        {
            var peerSite = ColoConfig.Other(site);
            if (config.GetSite(peerSite).Management == null)
                return new PeerProbeResult(true, $"site {peerSite} has no remote QMP monitor, so it cannot be seen from here; fence it and use -Force");
            var endpoint = AttachOperation.RemoteEndpoint(config, peerSite, tls);
            var call = new QmpCallOptions { Timeout = _timeouts.PeerProbe };
            string held = "";
            var existing = _host.Qmp.Find(endpoint);
            if (existing != null)
            {
                try
                {
                    var st = await existing.ExecuteAsync("query-status", null, call, ct).ConfigureAwait(false);
                    return new PeerProbeResult(true, $"its remote monitor answers QMP (run state {Json.Str(st, "status")})");
                }
                catch (QmpException ex) when (ex is QmpTimeoutException || ex is QmpDisconnectedException)
                {
                    // A session held since before the peer's host died or was cut off says no more than
                    // that: a new connection tells a host that is gone (nothing takes it) from a QEMU
                    // that is frozen (its kernel still takes it), as for a peer with no session here.
                    held = "the session held to it failed (" + ex.Message + "); ";
                }
            }
            try
            {
                using var probe = await _host.Qmp.ConnectAsync(endpoint,
                    new QmpSessionOptions { ConnectTimeout = _timeouts.PeerProbe, CommandTimeout = _timeouts.PeerProbe }, ct).ConfigureAwait(false);
                var status = await probe.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
                return new PeerProbeResult(true, $"its remote monitor answers QMP (run state {Json.Str(status, "status")})");
            }
            catch (QmpTlsException ex) when (ex.InnerException is not System.OperationCanceledException)
            {
                // Something there completed a TLS exchange and judged our certificate: it runs.
                return new PeerProbeResult(true, held + "its remote monitor answers but refused the TLS session: " + ex.Message);
            }
            catch (QmpException ex) when (ex is not QmpConnectException)
            {
                // The peer's host took the connection, but no handshake or greeting followed in time.
                // QEMU's monitor serves one client at a time and the kernel queues the others, so a
                // monitor held by another client looks exactly like this (a frozen QEMU does too):
                // from another host nothing tells them apart from a live peer, so it counts as one.
                return new PeerProbeResult(true, held + "its remote monitor took the connection but did not answer (held by another client, or frozen): " + ex.Message);
            }
            catch (QmpException ex)
            {
                return new PeerProbeResult(false, held + "its remote monitor does not answer: " + ex.Message);
            }
        }

        /// <summary>Probes the QEMU at the other site than <paramref name="site"/>.</summary>
        public async Task<PeerProbeResult> ProbeAsync(ColoConfig config, ColoSite site, CancellationToken ct)
        {
            var peerSite = ColoConfig.Other(site);
            var socket = config.QmpSocketOf(peerSite);
            var peerPid = _host.Qemu.RunningPid(config.PidFileOf(peerSite));
            if (peerPid.HasValue && _host.Processes.IsFrozen(peerPid.Value)) return new PeerProbeResult(false, $"frozen (pid {peerPid})");

            var call = new QmpCallOptions { Timeout = _timeouts.PeerProbe };
            var existing = _host.Qmp.FindUnix(socket);
            try
            {
                if (existing != null)
                {
                    var st = await existing.ExecuteAsync("query-status", null, call, ct).ConfigureAwait(false);
                    return new PeerProbeResult(true, $"it answers QMP (run state {Json.Str(st, "status")})");
                }
                if (!_host.Qemu.FileExists(socket)) return new PeerProbeResult(false, peerPid.HasValue ? $"process {peerPid} without a QMP socket" : "no process, no QMP socket");
                using var probe = await _host.Qmp.ConnectAsync(QmpEndpoint.Unix(socket),
                    new QmpSessionOptions { ConnectTimeout = _timeouts.PeerProbe, CommandTimeout = _timeouts.PeerProbe }, ct).ConfigureAwait(false);
                var status = await probe.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
                return new PeerProbeResult(true, $"it answers QMP (run state {Json.Str(status, "status")})");
            }
            catch (QmpGreetingException) when (peerPid.HasValue && _host.Processes.IsAlive(peerPid.Value) && !_host.Processes.IsFrozen(peerPid.Value))
            {
                // A running process whose monitor gives no greeting is serving another client, not dead.
                return new PeerProbeResult(true, $"its process {peerPid} runs and its QMP monitor is held by another client");
            }
            catch (QmpException ex)
            {
                return new PeerProbeResult(false, "it does not answer: " + ex.Message);
            }
        }
    }
}
