using System;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Witness
{
    /// <summary>
    /// A lease this side holds on the witness, renewed in the background. Timer says how it stands
    /// at any moment without a call; the guard reads it on every tick and self-fences when it says
    /// AboutToExpire. Nothing here fences: a lease has no business stopping a VM.
    /// </summary>
    public sealed class WitnessLease : IAsyncDisposable
    {
        /// <summary>The guard's default: short enough for a quick takeover, long enough for a few renewals on a busy host.</summary>
        public static readonly TimeSpan DefaultTtl = TimeSpan.FromSeconds(2);

        private readonly EtcdClient _client;
        private readonly TimeProvider _clock;
        private readonly CancellationTokenSource _stop = new();
        private Task? _loop;
        private int _ended;

        private WitnessLease(EtcdClient client, TimeProvider clock, long id, TimeSpan ttl, LeaseTimer timer)
        {
            _client = client;
            _clock = clock;
            Id = id;
            Ttl = ttl;
            Timer = timer;
        }

        public long Id { get; }

        /// <summary>The TTL the server granted (it raises one below its minimum).</summary>
        public TimeSpan Ttl { get; }

        public LeaseTimer Timer { get; }

        public LeaseRenewal State => Timer.State;

        /// <summary>Set once the server said the lease is gone; the loop stops then.</summary>
        public bool IsLost => Volatile.Read(ref _ended) == 1 && Timer.State == LeaseRenewal.None;

        /// <summary>The last renewal error, for the guard's report.</summary>
        public Exception? LastError { get; private set; }

        /// <param name="fenceMargin">Time the holder needs to fence itself; default a quarter of the TTL.</param>
        public static async Task<WitnessLease> GrantAsync(EtcdClient client, TimeSpan? ttl = null, TimeSpan? fenceMargin = null, TimeProvider? clock = null, CancellationToken cancellationToken = default)
        {
            if (client == null) throw new ArgumentNullException(nameof(client));
            clock ??= TimeProvider.System;
            var wanted = ttl ?? DefaultTtl;
            var timer = new LeaseTimer(clock, fenceMargin ?? TimeSpan.FromTicks(wanted.Ticks / 4));
            long sent = timer.Now();
            var grant = await client.GrantLeaseAsync(wanted, null, cancellationToken).ConfigureAwait(false);
            timer.Granted(grant.Ttl, sent);
            return new WitnessLease(client, clock, grant.Id, grant.Ttl, timer);
        }

        /// <summary>
        /// Takes up a lease an earlier process of the same holder was granted (a guard restarted
        /// within the TTL): renewed once now, or null when the server no longer knows it.
        /// </summary>
        public static async Task<WitnessLease?> ResumeAsync(EtcdClient client, long id, TimeSpan ttl, TimeSpan fenceMargin, TimeProvider clock, CancellationToken cancellationToken = default)
        {
            if (client == null) throw new ArgumentNullException(nameof(client));
            var timer = new LeaseTimer(clock, fenceMargin);
            long sent = timer.Now();
            try
            {
                var granted = await client.KeepAliveOnceAsync(id, ttl, cancellationToken).ConfigureAwait(false);
                timer.Granted(granted, sent);
                return new WitnessLease(client, clock, id, granted, timer);
            }
            catch (WitnessException e) when (e.Kind == WitnessErrorKind.LeaseNotFound) { return null; }
        }

        /// <summary>Renews every quarter TTL until released or lost, so three renewals in a row may fail before the margin is reached.</summary>
        public void StartKeepAlive()
        {
            if (_loop != null) throw new InvalidOperationException("The keep-alive already runs.");
            _loop = Task.Run(() => KeepAliveLoopAsync(_stop.Token));
        }

        /// <summary>Renews once now; used by the loop and by a guard that wants to know at once.</summary>
        public async Task<bool> RenewOnceAsync(CancellationToken cancellationToken = default)
        {
            var interval = RenewInterval;
            long sent = Timer.Now();
            try
            {
                var ttl = await _client.KeepAliveOnceAsync(Id, interval, cancellationToken).ConfigureAwait(false);
                Timer.Renewed(ttl, sent);
                LastError = null;
                return true;
            }
            catch (WitnessException e) when (e.Kind == WitnessErrorKind.LeaseNotFound)
            {
                LastError = e;
                Timer.Ended();
                Interlocked.Exchange(ref _ended, 1);
                return false;
            }
            catch (WitnessException e)
            {
                LastError = e;
                Timer.RenewalFailed();
                return false;
            }
        }

        private TimeSpan RenewInterval => TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 50, Ttl.Ticks / 4));

        private async Task KeepAliveLoopAsync(CancellationToken token)
        {
            while (!token.IsCancellationRequested && Volatile.Read(ref _ended) == 0)
            {
                try
                {
                    await Task.Delay(RenewInterval, _clock, token).ConfigureAwait(false);
                    await RenewOnceAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
            }
        }

        /// <summary>Gives the lease up at once (its owner key goes with it), so the peer need not wait out the TTL.</summary>
        public async Task<bool> ReleaseAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            await StopLoopAsync().ConfigureAwait(false);
            if (Interlocked.Exchange(ref _ended, 1) == 1 && Timer.State == LeaseRenewal.None) return false;
            try
            {
                return await _client.RevokeLeaseAsync(Id, timeout, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Even when the revoke did not get through, this side must act as if it holds nothing.
                Timer.Ended();
            }
        }

        private async Task StopLoopAsync()
        {
            _stop.Cancel();
            if (_loop != null)
            {
                try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        }

        /// <summary>Stops renewing without revoking: the lease runs out by itself (what a crash would do).</summary>
        public async ValueTask DisposeAsync()
        {
            await StopLoopAsync().ConfigureAwait(false);
            _stop.Dispose();
        }
    }
}
