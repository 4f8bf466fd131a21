using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Host;
using ColoPS.Colo.Operations;
using ColoPS.Qmp;
using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>
    /// The two halves of automatic re-protection, one on each site: the site whose QEMU died starts
    /// a fresh secondary and announces it on the witness; the owner running alone, once it claimed
    /// the epoch naming it, resumes replication to it (what Resume-ColoReplication runs).
    /// </summary>
    internal sealed class GuardReprotect
    {
        private readonly ColoGuard _g;
        private readonly ColoHost _host;

        public GuardReprotect(ColoGuard guard, ColoHost host)
        {
            _g = guard;
            _host = host;
        }

        public async Task<string> StartSecondaryAsync(GuardTick t, CancellationToken ct)
        {
            var w = t.Witness ?? throw new ColoException("ColoGuardNoWitnessRead", ColoErrorKind.InvalidState, "No witness read to start a secondary for.");
            var options = new ColoStartOptions { Timeouts = new ColoTimeouts { Command = TimeSpan.FromSeconds(10), Start = TimeSpan.FromSeconds(30) } };
            ColoNode node;
            try { node = await new StartSecondaryOperation(_host, options, null).RunAsync(_g.Config, _g.Site, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is ColoException || e is QmpException)
            {
                var backoff = _g.StartSecondaryRetry.Backoff == TimeSpan.Zero ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(Math.Min(_g.StartSecondaryRetry.Backoff.Ticks * 2, TimeSpan.FromSeconds(60).Ticks));
                _g.StartSecondaryRetry = (_host.Clock.GetUtcNow() + backoff, backoff);
                throw;
            }
            _g.StartSecondaryRetry = (DateTimeOffset.MinValue, TimeSpan.Zero);
            try
            {
                await _g.Witness.AnnounceSecondaryAsync(_g.SiteName, w.Epoch, node.ProcessId, _g.CallTimeout, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WitnessException || e is OperationCanceledException)
            {
                // Unannounced, nobody would ever use it, and a later tick would not start another while it runs.
                await new NodeLauncher(_host, options.Timeouts).DiscardAsync(node).ConfigureAwait(false);
                throw;
            }
            _g.Own.Adopt(node);
            _g.Wake();
            return $"secondary QEMU {node.ProcessId} started and announced for epoch {w.Epoch} (owner {w.LiveOwner})";
        }

        public async Task<string> ResumeAsync(GuardTick t, CancellationToken ct)
        {
            GuardActionRunner.RequireRenewedLease(_g, "resuming replication");
            var node = _g.Own.Node ?? throw new ColoException("ColoGuardNoSession", ColoErrorKind.InvalidState, "The guard holds no session to its QEMU.");
            long readyRevision = t.Witness?.Ready?.ModRevision ?? 0;
            // The disk copy is bounded by the operation's own timeouts; Ctrl+C cancels it (and rolls it back).
            var timeouts = new ColoTimeouts { Command = TimeSpan.FromSeconds(10), Migration = TimeSpan.FromMinutes(5) };
            var op = new ResumeOperation(_host, timeouts, null);
            try
            {
                // The secondary is reached by its address and ports: its QEMU belongs to the other site's guard.
                var plan = await op.PlanAsync(node, null, ct).ConfigureAwait(false);
                await op.RunAsync(node, null, plan, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ColoException || e is QmpException)
            {
                // Rolled back: it serves alone in its epoch again and waits for another secondary.
                _g.FailedReadyRevision = readyRevision;
                _g.Epochs.Settled();
                _g.Wake();
                throw;
            }
            _g.Epochs.Settled();
            _g.Wake();
            return $"replication resumed to the secondary at {ColoConfig.Other(_g.Site)}: protected in epoch {_g.Epochs.MyEpoch}";
        }
    }
}
