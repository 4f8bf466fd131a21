using System;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;

namespace ColoPS.Guard
{
    /// <summary>
    /// The guards' own heartbeat: a datagram every <see cref="Interval"/> from this site's address to
    /// the peer's, on Witness.HeartbeatPort, saying what this guard sees of its QEMU.
    ///
    /// Why this and not a probe of a port the peer's QEMU serves: the primary serves only its
    /// proxy chardevs, which take one client and accept nothing while connected (a probe sits in a
    /// backlog of one, or is taken as the real client after a reconnect); a listening socket of a
    /// frozen QEMU still completes TCP handshakes in the kernel; and the ports move with the roles.
    /// A guard is silent when its site is cut off, frozen or gone, and when it lives it says whether
    /// its QEMU does. UDP because a cut must show as silence within the window, not as a TCP
    /// connection that retries for minutes.
    ///
    /// A datagram counts only when it echoes this guard's boot id: a replay recorded before this
    /// guard started cannot pass as a live peer. With ColoConfig.Tls it is signed (HeartbeatSigner).
    /// </summary>
    public sealed class GuardHeartbeat : IAsyncDisposable
    {
        private readonly UdpClient _udp;
        private readonly IPEndPoint _peerEndpoint;
        private readonly string _pair, _site, _peerSite;
        private readonly string _boot = Guid.NewGuid().ToString("N");
        private readonly HeartbeatSigner? _signer;
        private readonly TimeProvider _clock;
        private readonly CancellationTokenSource _stop = new();
        private readonly object _gate = new();
        private Task? _send, _receive;
        private long _seq;
        // Null until the guard's first look: a heartbeat before it would claim what nobody has seen yet.
        private volatile string? _own;
        // What the peer said last (all under _gate).
        private string? _peerBoot;
        private long _peerSeq;
        private long _heardAt;
        private bool _everHeard, _peerStopping;
        // When this guard sent its first datagram (0 before): the peer's grace for a first answer runs from here.
        private long _firstSentAt;
        private string _peerOwn = "";

        private GuardHeartbeat(ColoConfig config, ColoSite site, int port, TimeProvider clock)
        {
            _clock = clock;
            _pair = config.Witness!.PairName(config);
            _site = site.ToString();
            _peerSite = ColoConfig.Other(site).ToString();
            var ttl = TimeSpan.FromSeconds(config.Witness.LeaseTtlSeconds);
            // A cut-off primary must find its secondary silent while its lease still has time left:
            // the lease may expire 3/4 TTL after the cut (renewals every TTL/4), so the window stays
            // well inside that with a few ticks to spare (0.8 s for the 2 s default).
            Window = TimeSpan.FromTicks(ttl.Ticks * 2 / 5);
            Interval = TimeSpan.FromTicks(Window.Ticks / 4);
            _signer = HeartbeatSigner.For(config, site);
            var own = new IPEndPoint(AddressOf(config.GetSite(site).Address), port);
            _peerEndpoint = new IPEndPoint(AddressOf(config.GetSite(ColoConfig.Other(site)).Address), port);
            try { _udp = new UdpClient(own); }
            catch (SocketException e)
            {
                _signer?.Dispose();
                throw new ColoException("ColoGuardHeartbeatBind", ColoErrorKind.ResourceUnavailable,
                    $"The guard's heartbeat cannot listen on {own} (udp): {e.Message}. Choose another Witness.HeartbeatPort or stop what uses it.");
            }
        }

        /// <summary>Starts listening and sending; null when the configuration names no heartbeat port.</summary>
        public static GuardHeartbeat? Start(ColoConfig config, ColoSite site, TimeProvider clock)
        {
            var port = config.Witness?.HeartbeatPort;
            if (port == null) return null;
            var h = new GuardHeartbeat(config, site, port.Value, clock);
            h._send = h.SendLoopAsync(h._stop.Token);
            h._receive = h.ReceiveLoopAsync(h._stop.Token);
            return h;
        }

        /// <summary>Silence longer than this reads as a silent peer.</summary>
        public TimeSpan Window { get; }
        public TimeSpan Interval { get; }

        /// <summary>
        /// How long after this guard's first datagram a peer never heard reads as NeverHeard: two
        /// windows, so a peer guard that runs gets a full window and the round trip of boot ids.
        /// </summary>
        public TimeSpan Grace => Window + Window;

        /// <summary>The last datagram dropped or not sent, in words, for the guard's detail.</summary>
        public string? LastError { get; private set; }

        /// <summary>What this side's next datagrams say about its own QEMU.</summary>
        public void Report(OwnObservation own) => _own = own.ToString();

        /// <summary>What the peer's guard said last of its own QEMU (an OwnObservation name; empty before anything was heard).</summary>
        public string PeerOwn { get { lock (_gate) return _peerOwn; } }

        /// <summary>The peer as its heartbeat shows it. Unknown until it was heard once (NeverHeard past the grace), and after it said its guard stops.</summary>
        public (PeerObservation Peer, string Detail) Read()
        {
            lock (_gate)
            {
                if (!_everHeard)
                {
                    string error = LastError == null ? "" : " (" + LastError + ")";
                    long first = Interlocked.Read(ref _firstSentAt);
                    if (first != 0 && _clock.GetElapsedTime(first) > Grace)
                        return (PeerObservation.NeverHeard, $"no heartbeat from the peer's guard since this guard started {_clock.GetElapsedTime(first).TotalMilliseconds:0} ms ago (grace {Grace.TotalMilliseconds:0} ms)" + error);
                    return (PeerObservation.Unknown, "no heartbeat heard from the peer's guard yet" + error);
                }
                // A guard stopped by its operator leaves its VM as it is: its silence proves nothing.
                if (_peerStopping) return (PeerObservation.Unknown, "the peer's guard said it stops (its VM is left as it is)");
                var since = _clock.GetElapsedTime(_heardAt);
                if (since > Window) return (PeerObservation.Silent, $"no heartbeat for {since.TotalMilliseconds:0} ms (window {Window.TotalMilliseconds:0} ms)");
                if (_peerOwn == nameof(OwnObservation.QemuDead)) return (PeerObservation.Silent, "the peer's guard says its QEMU is gone");
                return (PeerObservation.Answers, $"heartbeat {since.TotalMilliseconds:0} ms ago, peer QEMU {_peerOwn}");
            }
        }

        private async Task SendLoopAsync(CancellationToken ct)
        {
            // A timer of its own: a slow QMP look on the guard's tick must not read as a silent guard.
            while (!ct.IsCancellationRequested)
            {
                await SendAsync(stopping: false, ct).ConfigureAwait(false);
                try { await Task.Delay(Interval, _clock, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
            }
        }

        private async Task SendAsync(bool stopping, CancellationToken ct)
        {
            var own = _own;
            if (own == null) return;
            Interlocked.CompareExchange(ref _firstSentAt, _clock.GetTimestamp(), 0);
            string? echo;
            lock (_gate) echo = _peerBoot;
            var payload = JsonSerializer.SerializeToUtf8Bytes(new Beat(_pair, _site, _boot, Interlocked.Increment(ref _seq), echo, own, stopping));
            var cert = _signer?.Certificate ?? Array.Empty<byte>();
            byte[] sig;
            try { sig = _signer?.Sign(payload) ?? Array.Empty<byte>(); }
            catch (System.Security.Cryptography.CryptographicException e) { LastError = "a heartbeat could not be signed: " + e.Message; return; }
            var datagram = new byte[6 + payload.Length + cert.Length + sig.Length];
            int at = 0;
            foreach (var part in new[] { payload, cert, sig })
            {
                BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(at), (ushort)part.Length);
                part.CopyTo(datagram, at + 2);
                at += 2 + part.Length;
            }
            // A cut link refuses or drops the datagram: the peer's silence is the message.
            try { await _udp.SendAsync(datagram, _peerEndpoint, ct).ConfigureAwait(false); }
            catch (SocketException) { }
            catch (OperationCanceledException) { }
            catch (ObjectDisposedException) { }
        }

        private async Task ReceiveLoopAsync(CancellationToken ct)
        {
            while (!ct.IsCancellationRequested)
            {
                UdpReceiveResult r;
                try { r = await _udp.ReceiveAsync(ct).ConfigureAwait(false); }
                catch (SocketException) { continue; }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                if (!r.RemoteEndPoint.Address.Equals(_peerEndpoint.Address)) continue;
                // A datagram that does not parse or verify is dropped; it must not end the listening.
                try { Take(r.Buffer); }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException || e is ArgumentException || e is FormatException) { LastError = "a datagram was dropped: " + e.Message; }
            }
        }

        private void Take(byte[] datagram)
        {
            var parts = new byte[3][];
            int at = 0;
            for (int k = 0; k < 3; k++)
            {
                if (datagram.Length < at + 2) return;
                int len = BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(at));
                if (datagram.Length < at + 2 + len) return;
                parts[k] = datagram.AsSpan(at + 2, len).ToArray();
                at += 2 + len;
            }
            if (_signer != null && (parts[1].Length == 0 || !_signer.Verify(parts[0], parts[1], parts[2]))) return;
            Beat? b;
            try { b = JsonSerializer.Deserialize<Beat>(parts[0]); }
            catch (JsonException) { return; }
            if (b == null || b.Pair != _pair || b.Site != _peerSite || string.IsNullOrEmpty(b.Boot)) return;
            lock (_gate)
            {
                if (b.Boot == _peerBoot && b.Seq <= _peerSeq) return;
                _peerBoot = b.Boot;
                _peerSeq = b.Seq;
                // Learn the peer's boot id from any datagram, trust only those that echo ours.
                if (b.Echo != _boot) return;
                _heardAt = _clock.GetTimestamp();
                _everHeard = true;
                _peerOwn = b.Own ?? "";
                _peerStopping = b.Stopping;
            }
        }

        private static IPAddress AddressOf(string address) =>
            IPAddress.TryParse(address, out var ip) ? ip : Dns.GetHostAddresses(address)[0];

        public ValueTask DisposeAsync() => CloseAsync(notify: true);

        /// <summary>Without the notice, the peer sees what a lost site looks like (for tests).</summary>
        internal async ValueTask CloseAsync(bool notify)
        {
            // The peer hears that this guard stops on purpose (Ctrl+C), so it does not take the silence for a cut.
            if (notify) await SendAsync(stopping: true, CancellationToken.None).ConfigureAwait(false);
            _stop.Cancel();
            _udp.Dispose();
            foreach (var t in new[] { _send, _receive })
            {
                if (t == null) continue;
                try { await t.ConfigureAwait(false); } catch (Exception) { }
            }
            _signer?.Dispose();
            _stop.Dispose();
        }

        private sealed record Beat(string Pair, string Site, string Boot, long Seq, string? Echo, string Own, bool Stopping);
    }
}
