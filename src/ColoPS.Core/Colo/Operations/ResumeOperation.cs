using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu;
using ColoPS.Qemu.States;
using ColoPS.Qmp;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// "Primary/Secondary resume replication": the survivor syncs its disk to a new secondary and
    /// protects the VM again. A failure is rolled back so the survivor keeps serving alone.
    /// </summary>
    public sealed class ResumeOperation
    {
        private readonly ColoHost _host;
        private readonly ColoTimeouts _timeouts;
        private readonly Action<ColoProgress>? _progress;

        public ResumeOperation(ColoHost host, ColoTimeouts timeouts, Action<ColoProgress>? progress)
        {
            _host = host;
            _timeouts = timeouts;
            _progress = progress;
        }

        /// <summary>The checks before anything runs, from what was read; throws what the cmdlet reports.</summary>
        public static void Check(ColoNode survivor, ColoNode? secondary, ColoMode survivorMode)
        {
            if (secondary != null && secondary.Site == survivor.Site)
                throw new ColoException("ColoSameSite", ColoErrorKind.InvalidArgument, $"{secondary.Name} runs at the survivor's own site {survivor.Site}; the new secondary belongs at site {ColoConfig.Other(survivor.Site)}.");
            // Without a node, the new secondary is looked for by its pid file and socket on this
            // host, which say nothing about a pair driven from here over remote monitors.
            if (secondary == null && survivor.IsRemote)
                throw new ColoException("ColoRemoteSecondaryRequired", ColoErrorKind.InvalidArgument, $"{survivor.Name} is reached over its remote monitor; pass the new secondary as a node too (Connect-ColoNode -Remote -Site {ColoConfig.Other(survivor.Site)}).");
            if (secondary != null && secondary.Role != ColoRole.Secondary)
                throw new ColoException("ColoNotSecondary", ColoErrorKind.InvalidArgument, $"{secondary.Name} is {secondary.Role}, not a freshly started secondary (Start-ColoSecondary).");
            QemuFeatures.Of(survivor.QemuVersion).ThrowIfCannotBePrimary();
            if (survivorMode != ColoMode.None)
                throw new ColoException("ColoStillProtected", ColoErrorKind.InvalidState, $"{survivor.Name} is still in COLO mode {survivorMode}; fail over first.");
        }

        /// <summary>
        /// The plan, read-only: filters go before rew0 when the survivor has one (it was a secondary).
        /// <paramref name="secondary"/> is null when the new secondary runs on another host.
        /// </summary>
        public async Task<ColoPlan> PlanAsync(ColoNode survivor, ColoNode? secondary, CancellationToken ct)
        {
            var (left, chardevs) = await QemuReadings.FailoverLeftOverWithChardevsAsync(survivor.Session, ct).ConfigureAwait(false);
            Check(survivor, secondary, left.Mode);
            var stale = await StaleSocketsAsync(survivor, chardevs, secondary, ct).ConfigureAwait(false);
            var resume = ColoPlans.Resume(survivor.Config, survivor.Site, left.Objects.Contains(Ids.Rewriter), QemuFeatures.Of(survivor.QemuVersion), stale);
            // A failover cut short (a guard killed between its steps, COLO left by itself) leaves the
            // secondary's chardevs, or the primary's objects and replication link, where the resume
            // needs a clean primary: those steps are finished first.
            var rest = ColoPlans.FailoverRemainder(survivor.Config, survivor.Site, left, System.Array.Empty<JsonObject>());
            return rest.Steps.Count == 0 ? resume : new ColoPlan(resume.Name, resume.NodeName, rest.Steps.Concat(resume.Steps).ToList());
        }

        // The new secondary's own view names its end of each connection; without its session, the
        // survivor's host (where this runs then) says which of them the peer has closed.
        private static async Task<IReadOnlyList<string>> StaleSocketsAsync(ColoNode survivor, JsonElement mine, ColoNode? secondary, CancellationToken ct)
        {
            JsonElement? theirs = secondary == null ? null : await secondary.Session.ExecuteAsync("query-chardev", null, ct).ConfigureAwait(false);
            int pid = survivor.IsRemote ? 0 : survivor.ProcessId;
            return StalePeerSockets.Find(survivor.Config, mine, theirs, (local, peer) => StalePeerSockets.ClosedByPeer(pid, local, peer));
        }

        public async Task RunAsync(ColoNode survivor, ColoNode? secondary, ColoPlan plan, CancellationToken ct)
        {
            survivor.ProtectedSinceSequence = survivor.Session.LastEventSequence;
            var launcher = new NodeLauncher(_host, _timeouts);
            var peer = launcher.PeerSession(survivor.Config, survivor.Site, secondary);
            // The secondary this resume is for; a newer one started there meanwhile is not its to discard.
            var identity = launcher.IdentifySecondary(survivor.Config, survivor.Site, secondary);
            try
            {
                await new ColoPlanRunner(survivor.Session, _timeouts, _progress, peer).RunAsync(plan, ct).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The new secondary goes when it runs on this host: it never became a replica (or,
                // after a migration that ended without COLO, it is a second live copy), also when
                // the survivor itself is gone.
                await launcher.DiscardSecondaryAsync(survivor.Config, survivor.Site, secondary, identity).ConfigureAwait(false);
                if (survivor.Session.State != QmpSessionState.Running) throw;
                // The survivor must keep serving: what the resume added is taken away.
                var rollback = await new RollbackOperation(_timeouts, _progress).RunAsync(survivor, "resume", RollbackOperation.PlanResume).ConfigureAwait(false);
                rollback.AttachTo(ex);
                survivor.ProtectedSinceSequence = survivor.Session.LastEventSequence;
                throw;
            }
            survivor.Role = ColoRole.Primary;
            survivor.CountCheckpointsFromNow();
        }
    }
}
