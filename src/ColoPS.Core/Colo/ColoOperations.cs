using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Colo.Operations;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoPS.Colo
{
    /// <summary>
    /// The COLO lifecycle on this host, as the cmdlets call it: each method runs one operation of
    /// Colo/Operations against the real host (<see cref="ColoHost.Default"/>). The operations
    /// themselves take their host, so tests can drive them with fakes.
    /// </summary>
    public static class ColoOperations
    {
        private static ColoHost Host => ColoHost.Default;

        public static Task<ColoNode> StartSecondaryAsync(ColoConfig config, ColoSite site, ColoStartOptions options, Action<ColoProgress>? progress, CancellationToken ct)
            => new StartSecondaryOperation(Host, options, progress).RunAsync(config, site, ct);

        public static Task<ColoNode> StartPrimaryAsync(ColoConfig config, ColoSite site, ColoNode? secondary, QmpSession? existing, ColoStartOptions options, Action<ColoProgress>? progress, CancellationToken ct)
            => new StartPrimaryOperation(Host, options, progress).RunAsync(config, site, secondary, existing, ct);

        public static Task<ColoNode> AttachAsync(ColoConfig config, ColoSite site, TimeSpan timeout, CancellationToken ct)
            => new AttachOperation(Host).RunAsync(config, site, timeout, ct);

        /// <summary>A site's QEMU on another host, through its remote QMP monitor with the operator's certificate.</summary>
        public static Task<ColoNode> AttachRemoteAsync(ColoConfig config, ColoSite site, QmpTlsOptions tls, TimeSpan timeout, CancellationToken ct)
            => new AttachOperation(Host).RunRemoteAsync(config, site, tls, timeout, ct);

        public static Task<FailoverPlan> PlanFailoverAsync(ColoNode survivor, ColoTimeouts timeouts, CancellationToken ct)
            => new FailoverOperation(Host, timeouts, null).PlanAsync(survivor, ct);

        /// <param name="force">Go on although the peer still answers (the caller fenced it).</param>
        public static Task FailoverAsync(ColoNode survivor, FailoverPlan plan, bool force, ColoTimeouts timeouts, Action<ColoProgress>? progress, CancellationToken ct)
            => new FailoverOperation(Host, timeouts, progress).RunAsync(survivor, plan, force, ct);

        public static Task<PeerProbeResult> ProbePeerAsync(ColoNode node, CancellationToken ct)
            => new PeerProbe(Host, new ColoTimeouts()).ProbeAsync(node, ct);

        public static Task<ColoPlan> PlanResumeAsync(ColoNode survivor, ColoNode? secondary, CancellationToken ct)
            => new ResumeOperation(Host, new ColoTimeouts(), null).PlanAsync(survivor, secondary, ct);

        public static Task ResumeAsync(ColoNode survivor, ColoNode? secondary, ColoPlan plan, ColoTimeouts timeouts, Action<ColoProgress>? progress, CancellationToken ct)
            => new ResumeOperation(Host, timeouts, progress).RunAsync(survivor, secondary, plan, ct);

        /// <param name="note">What did not go as asked (a refused quit, a kill), for the verbose stream.</param>
        public static Task StopAsync(ColoNode node, TimeSpan timeout, Action<string>? note, CancellationToken ct)
            => new StopOperation(Host, new ColoTimeouts(), note).RunAsync(node, timeout, ct);

        public static Task<ColoStatus> GetStatusAsync(ColoNode node, CancellationToken ct, TimeSpan? queryTimeout = null)
            => new StatusReader(Host, Limits(queryTimeout)).ReadAsync(node, ct);

        /// <summary>Reads a session ColoPS did not start; <paramref name="processId"/> is checked first when given.</summary>
        public static Task<ColoStatus> GetStatusAsync(QmpSession session, int? processId, long protectedSince, CancellationToken ct, TimeSpan? queryTimeout = null)
            => new StatusReader(Host, Limits(queryTimeout)).ReadAsync(session, processId, protectedSince, ct);

        /// <summary>The QEMU invocation of one side, exactly as Start-ColoPrimary and Start-ColoSecondary run it.</summary>
        public static async Task<ColoCommandLine> GetCommandLineAsync(ColoConfig config, ColoSite site, ColoRole role, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.StartingSite(site));
            if (role != ColoRole.Primary && role != ColoRole.Secondary)
                throw new ColoException("ColoRoleInvalid", ColoErrorKind.InvalidArgument, $"A QEMU starts as Primary or Secondary, not {role}.");
            var env = NodeLauncher.Environment(config) ?? new Dictionary<string, string>();
            var version = await Host.Qemu.GetVersionAsync(config.Qemu.Binary, env, ct).ConfigureAwait(false);
            var accelerator = QemuBinary.ResolveAccelerator(config.Qemu.Accelerator);
            var args = role == ColoRole.Primary
                ? QemuCommandLine.Primary(config, site, version, accelerator)
                : QemuCommandLine.Secondary(config, site, version, accelerator);
            return new ColoCommandLine(config, site, role, config.Qemu.Binary, args, env, version, accelerator);
        }

        private static ColoTimeouts Limits(TimeSpan? queryTimeout)
            => queryTimeout.HasValue ? new ColoTimeouts { StatusQuery = queryTimeout.Value } : new ColoTimeouts();
    }
}
