using System;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// Procedure steps 1 and 4: the primary QEMU (or the caller's), replication and the migration
    /// into COLO. A migration that ends anywhere but "colo" is a failed start: the secondary, which
    /// would otherwise run a second copy of the VM, is killed; a primary this operation started is
    /// stopped, and the caller's own QEMU is rolled back to run alone.
    /// </summary>
    public sealed class StartPrimaryOperation
    {
        private readonly ColoHost _host;
        private readonly ColoStartOptions _options;
        private readonly Action<ColoProgress>? _progress;

        public StartPrimaryOperation(ColoHost host, ColoStartOptions options, Action<ColoProgress>? progress)
        {
            _host = host;
            _options = options;
            _progress = progress;
        }

        public async Task<ColoNode> RunAsync(ColoConfig config, ColoSite site, ColoNode? secondary, QmpSession? existing, CancellationToken ct)
        {
            // A QEMU already running (the caller's) needs no program here; a remote one reads its
            // certificate folder on its own host, which may not be this one (an operator's).
            var files = existing == null ? ColoHostFiles.StartingSite(site)
                : existing.Endpoint.Transport == QmpTransport.Tcp ? ColoHostFiles.HeldHere(config)
                : ColoHostFiles.RunningSite(site);
            ColoConfigValidator.ThrowIfInvalid(config, files);
            var launcher = new NodeLauncher(_host, _options.Timeouts);
            var version = existing?.QemuVersion ?? await launcher.VersionAsync(config, ct).ConfigureAwait(false);
            if (!_options.SkipVersionCheck) QemuFeatures.Of(version).ThrowIfCannotBePrimary();
            if (existing != null && existing.Endpoint.Transport == QmpTransport.Tcp && secondary == null)
                throw new ColoException("ColoRemoteSecondaryRequired", ColoErrorKind.InvalidArgument,
                    $"The primary is reached over a remote monitor; pass the secondary as a node too (Connect-ColoNode -Remote -Site {ColoConfig.Other(site)}), not by its socket on this host.");
            var peer = launcher.PeerSession(config, site, secondary);
            // The secondary this start is for; a newer one started there meanwhile is not its to discard.
            var identity = launcher.IdentifySecondary(config, site, secondary);

            ColoNode node;
            if (existing != null)
            {
                // The caller's QEMU says itself which accelerator it runs.
                var kvm = await existing.ExecuteAsync("query-kvm", null, ct).ConfigureAwait(false);
                var accelerator = kvm.TryGetProperty("enabled", out var on) && on.ValueKind == JsonValueKind.True ? ColoAccelerator.Kvm : ColoAccelerator.Tcg;
                // A remote QEMU's pid file is on its own host, not here.
                int pid = existing.Endpoint.Transport == QmpTransport.Tcp ? 0 : _host.Qemu.RunningPid(config.PidFileOf(site)) ?? 0;
                node = new ColoNode(config, site, ColoRole.Primary, pid, existing, version, accelerator);
            }
            else
            {
                var accelerator = QemuBinary.ResolveAccelerator(config.Qemu.Accelerator);
                launcher.PrepareSite(config, site);
                await launcher.EnsureParentDiskAsync(config, site, ct).ConfigureAwait(false);
                _progress?.Invoke(new ColoProgress("Start primary", "Starting QEMU", 5));
                node = await launcher.LaunchAsync(config, site, ColoRole.Primary, QemuCommandLine.Primary(config, site, version, accelerator), version, accelerator, ct).ConfigureAwait(false);
            }

            try
            {
                node.ProtectedSinceSequence = node.Session.LastEventSequence;
                await new ColoPlanRunner(node.Session, _options.Timeouts, _progress, peer).RunAsync(ColoPlans.PrimaryProtect(config, site, QemuFeatures.Of(version)), ct).ConfigureAwait(false);
                node.Role = ColoRole.Primary;
                node.CountCheckpointsFromNow();
                if (secondary != null) secondary.ProtectedSinceSequence = Math.Min(secondary.ProtectedSinceSequence, secondary.Session.LastEventSequence);
                return node;
            }
            catch (Exception) when (existing == null)
            {
                await launcher.DiscardSecondaryAsync(config, site, secondary, identity).ConfigureAwait(false);
                await launcher.DiscardAsync(node).ConfigureAwait(false);
                throw;
            }
            catch (Exception ex)
            {
                await launcher.DiscardSecondaryAsync(config, site, secondary, identity).ConfigureAwait(false);
                if (existing!.State != QmpSessionState.Running) throw;
                // The caller's own QEMU stays, running alone again: without its link to the
                // secondary, and not stuck paused or in postmigrate.
                var rollback = await new RollbackOperation(_options.Timeouts, _progress).RunAsync(node, "start", RollbackOperation.PlanStart).ConfigureAwait(false);
                rollback.AttachTo(ex);
                throw;
            }
        }
    }
}
