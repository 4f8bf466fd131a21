using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>
    /// The self-fence that must beat the lease's expiry, on a timer of its own. A guard's tick can
    /// stall for seconds exactly when it matters: a cut link leaves QEMU's COLO checkpoint blocked
    /// on its socket while it holds QEMU's big lock (QEMU 11), so every QMP look waits out its
    /// timeout, and a witness read waits out its own. Every 100 ms this asks the model again with
    /// what is known now (the last look at the own QEMU, the heartbeat and the lease as they are,
    /// the witness taken as unreachable since the lease cannot be renewed) and, once less than half
    /// the fence margin is left and the model would fence, kills QEMU without QMP. The tick had the
    /// first half of the margin to stop the VM gently.
    /// </summary>
    internal sealed class FenceWatchdog
    {
        private static readonly TimeSpan s_period = TimeSpan.FromMilliseconds(100);
        private readonly ColoGuard _g;
        private readonly ColoHost _host;
        private readonly PeerWatch _peer;
        private int? _killed;

        public FenceWatchdog(ColoGuard guard, ColoHost host, PeerWatch peer)
        {
            _g = guard;
            _host = host;
            _peer = peer;
        }

        public async Task RunAsync(CancellationToken ct)
        {
            while (!ct.IsCancellationRequested)
            {
                try { await Task.Delay(s_period, _host.Clock, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                await CheckAsync(ct).ConfigureAwait(false);
            }
        }

        private async Task CheckAsync(CancellationToken ct)
        {
            var last = _g.LastInput;
            var pid = _g.LastOwnPid;
            var lease = _g.Lease;
            if (last == null || pid == null || pid == _killed || lease == null || lease.State != LeaseRenewal.AboutToExpire) return;
            if (lease.Timer.Remaining > _g.Config.Witness!.FenceMargin / 2) return;
            // The fresh-secondary flag changes only what a secondary sees, and a secondary sends nothing to fence: the last tick's stays.
            var (peer, _, peerWords) = _peer.Read();
            var input = last with { Peer = peer, Lease = LeaseRenewal.AboutToExpire, Witness = WitnessAnswer.Unreachable };
            var d = GuardModel.Decide(input);
            if (!d.SelfFences) return;
            _killed = pid;
            var at = _host.Clock.GetLocalNow();
            bool gone;
            try { gone = await _host.Processes.KillAsync(pid.Value, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            var urgent = GuardDecision.Do(d.Reason + " (the guard's tick is late: the fence watchdog kills QEMU before the lease can expire)", GuardAction.KillQemu);
            _g.RecordUrgent(input, urgent, gone ? $"QEMU {pid} killed" : $"QEMU {pid} killed but still there after 2 s", $"peer: {peerWords}; lease: {lease.Timer.Remaining.TotalMilliseconds:0} ms left", at);
            _g.Wake();
        }
    }
}
