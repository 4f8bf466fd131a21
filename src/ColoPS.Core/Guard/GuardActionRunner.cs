using System;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Host;
using ColoPS.Qmp;
using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>What the guard knows on the tick whose actions run: the model's input and the witness's read.</summary>
    internal sealed record GuardTick(GuardInput Input, OwnReading Own, PairState? Witness);

    /// <summary>Carries out one decision's actions in order through the COLO operations; stops at the first that fails.</summary>
    internal sealed class GuardActionRunner
    {
        private static readonly Action<ColoPlan, int>? s_crashSeam = GuardCrashSeam.FromEnvironment();
        private readonly ColoGuard _g;
        private readonly ColoHost _host;

        public GuardActionRunner(ColoGuard guard, ColoHost host)
        {
            _g = guard;
            _host = host;
        }

        public async Task<string> RunAsync(GuardAction action, GuardTick t, CancellationToken ct)
        {
            switch (action)
            {
                case GuardAction.Claim: return await ClaimAsync(t, ct).ConfigureAwait(false);
                case GuardAction.RunFencingHook: return await FenceAsync(ct).ConfigureAwait(false);
                case GuardAction.FailOver: return await FailOverAsync(t, ct).ConfigureAwait(false);
                case GuardAction.AnnounceSelf:
                    // Switches learn the VM's MACs now live here; rounds and steps as QEMU's own defaults.
                    await Node().Session.ExecuteAsync("announce-self", new JsonObject { ["initial"] = 50, ["max"] = 550, ["rounds"] = 5, ["step"] = 100 },
                        new QmpCallOptions { Timeout = TimeSpan.FromSeconds(2) }, ct).ConfigureAwait(false);
                    return "announced";
                case GuardAction.StopVm: return await StopVmAsync(t, ct).ConfigureAwait(false);
                case GuardAction.KillQemu: return await KillAsync(t, ct).ConfigureAwait(false);
                case GuardAction.ReleaseLease: return await _g.ReleaseLeaseAsync(ct).ConfigureAwait(false);
                case GuardAction.Reprotect: return await new GuardReprotect(_g, _host).ResumeAsync(t, ct).ConfigureAwait(false);
                case GuardAction.StartSecondary: return await new GuardReprotect(_g, _host).StartSecondaryAsync(t, ct).ConfigureAwait(false);
                case GuardAction.ReportWitnessUnreachable: return "no automatic failover while the witness is unreachable";
                default: throw new ArgumentOutOfRangeException(nameof(action), action, null);
            }
        }

        private ColoNode Node() => _g.Own.Node ?? throw new ColoException("ColoGuardNoSession", ColoErrorKind.InvalidState, "The guard holds no session to its QEMU.");

        private void RequireRenewedLease(string what) => RequireRenewedLease(_g, what);

        internal static void RequireRenewedLease(ColoGuard g, string what)
        {
            // Checked again right before anything that may send output: the tick's reading may be old by now.
            var state = g.Lease?.State ?? LeaseRenewal.None;
            if (state != LeaseRenewal.Renewed)
                throw new ColoException("ColoGuardLeaseNotRenewed", ColoErrorKind.InvalidState, $"Not {what}: the lease is {state}.");
        }

        private async Task<string> ClaimAsync(GuardTick t, CancellationToken ct)
        {
            RequireRenewedLease("claiming");
            var w = t.Witness ?? throw new ColoException("ColoGuardNoWitnessRead", ColoErrorKind.InvalidState, "No witness read to claim from.");
            bool keep = GuardModel.ClaimKeepsSecondary(t.Input);
            // Running alone with a new secondary announced: the epoch claimed names it, as one that joins now.
            bool resume = t.Input.Own == OwnObservation.StandaloneRunning && t.Input.NewSecondaryReady;
            string site = _g.SiteName, peer = ColoConfig.Other(_g.Site).ToString();
            string? secondary = keep ? (w.Record?.Secondary ?? peer) : resume ? peer : null;
            var result = await _g.Witness.ClaimAsync(site, w.Epoch, site, secondary, keep ? "protect" : resume ? "resume" : t.Input.Own == OwnObservation.StandaloneRunning ? "reown" : "failover", _g.Lease!.Id, _g.CallTimeout, ct, newSecondary: resume).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                _g.ClaimLost = true;
                return "claim lost: " + result.Reason;
            }
            _g.Epochs.Claimed(result.State.Epoch, keep);
            _g.Fence = FenceHookResult.NotRun;
            _g.Wake();
            return $"claimed epoch {result.State.Epoch} (primary {site}, secondary {secondary ?? "none"})";
        }

        private async Task<string> FenceAsync(CancellationToken ct)
        {
            var hook = _g.Config.FencingHook;
            if (hook == null)
            {
                // No hook: the peer's lease is gone, and its guard stops its VM before its lease can expire.
                _g.Fence = FenceHookResult.Succeeded;
                _g.Wake();
                return "no fencing hook configured: the expired or released lease is the fence";
            }
            var (result, detail) = await FencingHookRunner.RunAsync(hook, _g.PairName, _g.SiteName, ColoConfig.Other(_g.Site).ToString(),
                TimeSpan.FromSeconds(_g.Config.FencingHookTimeoutSeconds), ct).ConfigureAwait(false);
            _g.Fence = result;
            _g.Wake();
            // A failed hook stops the decision here: the takeover after it in the same decision must not run.
            if (result != FenceHookResult.Succeeded) throw new ColoException("ColoGuardFenceFailed", ColoErrorKind.OperationFailed, detail);
            return detail;
        }

        private async Task<string> FailOverAsync(GuardTick t, CancellationToken ct)
        {
            RequireRenewedLease("failing over");
            // A secondary takes over only from a fenced primary (the hook ran in this decision or an earlier one).
            if (t.Input.Role == GuardRole.Secondary && t.Input.Own != OwnObservation.ProtectedPrimary && _g.Fence != FenceHookResult.Succeeded)
                throw new ColoException("ColoGuardNotFenced", ColoErrorKind.InvalidState, $"Not taking over: the fencing hook is {_g.Fence}.");
            var node = Node();
            var timeouts = new ColoTimeouts { Command = TimeSpan.FromSeconds(5), Failover = TimeSpan.FromSeconds(10), PeerProbe = TimeSpan.FromMilliseconds(500) };
            var op = new Colo.Operations.FailoverOperation(_host, timeouts, null) { BeforeStep = s_crashSeam };
            // Planned from what QEMU holds now: a failover a killed guard left half done is finished from where it stopped.
            var plan = await op.PlanAsync(node, ct, probePeer: false).ConfigureAwait(false);
            // Forced: the witness made this side the owner of a new epoch, and the peer is fenced or a secondary.
            await op.RunAsync(node, plan, force: true, ct).ConfigureAwait(false);
            return $"failed over ({plan.FromRole} failover, {plan.Plan.Steps.Count} steps): runs alone";
        }

        private async Task<string> StopVmAsync(GuardTick t, CancellationToken ct)
        {
            var node = _g.Own.Node;
            if (node != null)
            {
                try
                {
                    await node.Session.ExecuteAsync("stop", null, new QmpCallOptions { Timeout = TimeSpan.FromMilliseconds(300) }, ct).ConfigureAwait(false);
                    return "VM stopped";
                }
                catch (QmpException e) { return "stop was not answered (" + e.Message + "); " + await KillAsync(t, ct).ConfigureAwait(false); }
            }
            return await KillAsync(t, ct).ConfigureAwait(false);
        }

        private async Task<string> KillAsync(GuardTick t, CancellationToken ct)
        {
            var pid = t.Own.ProcessId;
            if (pid == null) return "no QEMU to kill";
            _g.Own.Drop();
            bool gone = await _host.Processes.KillAsync(pid.Value, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            return gone ? $"QEMU {pid} killed" : $"QEMU {pid} killed but still there after 2 s";
        }
    }
}
