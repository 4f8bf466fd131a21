using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu;

namespace ColoPS.Colo.Operations
{
    /// <summary>Procedure steps 2 and 3: overlays, the secondary QEMU waiting for the migration, x-colo and the NBD export.</summary>
    public sealed class StartSecondaryOperation
    {
        private readonly ColoHost _host;
        private readonly ColoStartOptions _options;
        private readonly Action<ColoProgress>? _progress;

        public StartSecondaryOperation(ColoHost host, ColoStartOptions options, Action<ColoProgress>? progress)
        {
            _host = host;
            _options = options;
            _progress = progress;
        }

        public async Task<ColoNode> RunAsync(ColoConfig config, ColoSite site, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.StartingSite(site));
            var launcher = new NodeLauncher(_host, _options.Timeouts);
            var version = await launcher.VersionAsync(config, ct).ConfigureAwait(false);
            var accelerator = QemuBinary.ResolveAccelerator(config.Qemu.Accelerator);
            launcher.PrepareSite(config, site);
            _progress?.Invoke(new ColoProgress("Start secondary", "Preparing disks", 10));
            await launcher.EnsureParentDiskAsync(config, site, ct).ConfigureAwait(false);
            await launcher.CreateOverlaysAsync(config, site, ct).ConfigureAwait(false);

            _progress?.Invoke(new ColoProgress("Start secondary", "Starting QEMU", 30));
            var node = await launcher.LaunchAsync(config, site, ColoRole.Secondary, QemuCommandLine.Secondary(config, site, version, accelerator), version, accelerator, ct).ConfigureAwait(false);
            try
            {
                await new ColoPlanRunner(node.Session, _options.Timeouts, _progress).RunAsync(ColoPlans.SecondaryPrepare(config, site, QemuFeatures.Of(version)), ct).ConfigureAwait(false);
                return node;
            }
            catch
            {
                await launcher.DiscardAsync(node).ConfigureAwait(false);
                throw;
            }
        }
    }
}
