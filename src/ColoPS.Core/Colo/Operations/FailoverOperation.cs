using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>"Secondary Failover" or "Primary Failover", chosen from the survivor's own COLO state.</summary>
    public sealed class FailoverOperation
    {
        private readonly ColoHost _host;
        private readonly ColoTimeouts _timeouts;
        private readonly Action<ColoProgress>? _progress;

        public FailoverOperation(ColoHost host, ColoTimeouts timeouts, Action<ColoProgress>? progress)
        {
            _host = host;
            _timeouts = timeouts;
            _progress = progress;
        }

        /// <summary>Reads the survivor's COLO mode, its quorum children, its yank instances and the peer, and builds the plan. Changes nothing.</summary>
        /// <param name="probePeer">False for a caller that fenced the peer itself and forces the failover (the guard): the probe would change nothing and costs a connection attempt.</param>
        public async Task<FailoverPlan> PlanAsync(ColoNode survivor, CancellationToken ct, bool probePeer = true)
        {
            var s = survivor.Session;
            var role = FailoverDecision.RoleToFailOver(survivor, await QemuSnapshot.ReadAsync(s, null, ct).ConfigureAwait(false));
            var peer = probePeer ? await new PeerProbe(_host, _timeouts).ProbeAsync(survivor, ct).ConfigureAwait(false)
                : new PeerProbeResult(false, "not probed: the caller fenced the peer");
            var yank = await QemuReadings.YankTargetsAsync(s, Ids.PeerFacingChardevs(role == ColoRole.Secondary), ct).ConfigureAwait(false);
            // From what is there now: a failover cut short (its guard killed between two steps) is finished, not redone.
            var left = await QemuReadings.FailoverLeftOverAsync(s, ct).ConfigureAwait(false);
            return new FailoverPlan(ColoPlans.FailoverRemainder(survivor.Config, survivor.Site, left, yank), role, peer);
        }

        /// <summary>See <see cref="ColoPlanRunner.BeforeStep"/>.</summary>
        public Action<ColoPlan, int>? BeforeStep { get; init; }

        /// <param name="force">The caller fenced the peer some other way: go on although it still answers.</param>
        public async Task RunAsync(ColoNode survivor, FailoverPlan plan, bool force, CancellationToken ct)
        {
            FailoverDecision.ThrowIfPeerAlive(survivor, plan, force);
            await new ColoPlanRunner(survivor.Session, _timeouts, _progress) { BeforeStep = BeforeStep }.RunAsync(plan.Plan, ct).ConfigureAwait(false);
            survivor.Role = ColoRole.Standalone;
            // The COLO_EXIT that announced the lost peer is handled now; status reads from here on.
            survivor.ProtectedSinceSequence = survivor.Session.LastEventSequence;
        }
    }
}
