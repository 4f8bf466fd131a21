using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// A site's QEMU from nothing to a node, and back to nothing: the site folder and disks, the
    /// daemonized launch and its monitor, and the clean-up of a node that must go.
    /// </summary>
    public sealed class NodeLauncher
    {
        private readonly ColoHost _host;
        private readonly ColoTimeouts _timeouts;

        public NodeLauncher(ColoHost host, ColoTimeouts timeouts)
        {
            _host = host;
            _timeouts = timeouts;
        }

        /// <summary>QEMU_MODULE_DIR for an unpacked QEMU; null when the configuration names none.</summary>
        public static IReadOnlyDictionary<string, string>? Environment(ColoConfig config)
            => string.IsNullOrEmpty(config.Qemu.ModuleDirectory) ? null : new Dictionary<string, string> { ["QEMU_MODULE_DIR"] = config.Qemu.ModuleDirectory! };

        public Task<QemuVersion> VersionAsync(ColoConfig config, CancellationToken ct) => _host.Qemu.GetVersionAsync(config.Qemu.Binary, Environment(config), ct);

        /// <summary>The site's private folder, and no QEMU of this VM already running there.</summary>
        public void PrepareSite(ColoConfig config, ColoSite site)
        {
            _host.Qemu.EnsurePrivateDirectory(config.GetSite(site).WorkDirectory);
            var running = _host.Qemu.RunningPid(config.PidFileOf(site));
            if (running.HasValue)
            {
                throw new ColoException("ColoNodeAlreadyRunning", ColoErrorKind.InvalidState,
                    $"A QEMU for {config.Name} already runs at site {site} (pid {running}); stop it first (Stop-ColoNode).");
            }
            RemoveRuntimeFiles(config, site);
        }

        /// <summary>The parent disk: kept when it exists, else copied from the VM's image or created empty.</summary>
        public async Task EnsureParentDiskAsync(ColoConfig config, ColoSite site, CancellationToken ct)
        {
            var disk = config.DiskPathOf(site);
            if (_host.Qemu.FileExists(disk)) return;
            Directory.CreateDirectory(Path.GetDirectoryName(disk)!);
            if (!string.IsNullOrEmpty(config.Vm.DiskImage))
                await _host.Qemu.CopyImageAsync(config.Vm.DiskImage!, disk, ct).ConfigureAwait(false);
            else
                await _host.Qemu.CreateImageAsync(config.Qemu.ImgBinary, disk, (long)(config.Vm.DiskSizeGB * 1024 * 1024 * 1024), ct).ConfigureAwait(false);
        }

        /// <summary>Fresh overlays of exactly the parent's size: a size mismatch looks valid and corrupts silently.</summary>
        public async Task CreateOverlaysAsync(ColoConfig config, ColoSite site, CancellationToken ct)
        {
            long size = await _host.Qemu.GetVirtualSizeAsync(config.Qemu.ImgBinary, config.DiskPathOf(site), ct).ConfigureAwait(false);
            foreach (var overlay in new[] { config.ActiveOverlayOf(site), config.HiddenOverlayOf(site) })
            {
                _host.Qemu.DeleteFile(overlay);
                await _host.Qemu.CreateImageAsync(config.Qemu.ImgBinary, overlay, size, ct).ConfigureAwait(false);
            }
        }

        /// <summary>Starts QEMU with these arguments and connects to its monitor; nothing is left behind when either fails.</summary>
        public async Task<ColoNode> LaunchAsync(ColoConfig config, ColoSite site, ColoRole role, IReadOnlyList<string> args, QemuVersion version, ColoAccelerator accelerator, CancellationToken ct)
        {
            var clock = _host.Clock.GetTimestamp();
            int pid;
            try
            {
                pid = await _host.Qemu.StartAsync(config.Qemu.Binary, args, config.PidFileOf(site), config.QemuLogOf(site), Environment(config), _timeouts.Start, ct).ConfigureAwait(false);
            }
            catch
            {
                RemoveRuntimeFiles(config, site);
                throw;
            }
            try
            {
                var left = _timeouts.Start - _host.Clock.GetElapsedTime(clock);
                var session = await _host.Qmp.ConnectAsync(QmpEndpoint.Unix(config.QmpSocketOf(site)), new QmpSessionOptions
                {
                    Name = config.Name + "-" + site,
                    ConnectTimeout = left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1),
                    CommandTimeout = _timeouts.Command,
                }, ct).ConfigureAwait(false);
                _host.Qmp.Register(session);
                return new ColoNode(config, site, role, pid, session, version, accelerator);
            }
            catch (QmpException ex) when (!_host.Processes.IsAlive(pid))
            {
                // QEMU came up and then died before its monitor answered: its log says why.
                RemoveRuntimeFiles(config, site);
                string said = _host.Qemu.ReadLogTail(config.QemuLogOf(site));
                throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed,
                    $"QEMU (pid {pid}) ended before its QMP monitor answered" + (said.Length > 0 ? ": " + said : " and left no message (killed?)."), ex);
            }
            catch
            {
                await _host.Processes.KillAsync(pid, _timeouts.Kill, CancellationToken.None).ConfigureAwait(false);
                RemoveRuntimeFiles(config, site);
                throw;
            }
        }

        /// <summary>
        /// A process id can be reused once the QEMU is gone: only a process whose command line names
        /// this node's QMP socket is ours to kill.
        /// </summary>
        public bool IsNodeProcess(ColoNode node)
            => !node.IsRemote && node.ProcessId > 0 && _host.Processes.IsAlive(node.ProcessId) && _host.Processes.CommandLineContains(node.ProcessId, node.Config.QmpSocketOf(node.Site));

        /// <summary>Kills the node's QEMU if it still runs, closes its session and removes its runtime files.</summary>
        public async Task DiscardAsync(ColoNode node)
        {
            if (node.IsRemote)
            {
                await QuitRemoteAsync(node).ConfigureAwait(false);
                return;
            }
            if (IsNodeProcess(node)) await _host.Processes.KillAsync(node.ProcessId, _timeouts.Kill, CancellationToken.None).ConfigureAwait(false);
            node.Session.Dispose();
            _host.Qmp.Unregister(node.Session);
            RemoveRuntimeFiles(node.Config, node.Site);
            node.Role = ColoRole.Stopped;
        }

        /// <summary>
        /// The secondary QEMU an operation works with, as it is when the operation starts: with the
        /// pid file's process only, its pid and start time, so a clean-up later kills that process and
        /// no other. Null when no secondary of this VM runs on this host.
        /// </summary>
        public ProcessIdentity? IdentifySecondary(ColoConfig config, ColoSite primarySite, ColoNode? secondary)
        {
            if (secondary != null && secondary.IsRemote) return null;
            int? pid = secondary?.ProcessId ?? _host.Qemu.RunningPid(config.PidFileOf(ColoConfig.Other(primarySite)));
            if (pid == null) return null;
            var start = _host.Processes.StartTime(pid.Value);
            return start == null ? null : new ProcessIdentity(pid.Value, start.Value);
        }

        /// <summary>
        /// A secondary left running after a failed start or resume is a second live copy of the VM.
        /// Only one on this host can be reached: its node, or the process <paramref name="identity"/>
        /// names (what the site's pid file said when the operation started). The pid file may name a
        /// newer QEMU by now, one the peer's guard started for the next attempt: that one and its
        /// files are left alone.
        /// </summary>
        public async Task DiscardSecondaryAsync(ColoConfig config, ColoSite primarySite, ColoNode? secondary, ProcessIdentity? identity)
        {
            var secondarySite = ColoConfig.Other(primarySite);
            if (secondary != null)
            {
                await DiscardAsync(secondary).ConfigureAwait(false);
                return;
            }
            if (identity == null || !IsSame(config, secondarySite, identity)) return;
            await _host.Processes.KillAsync(identity.Pid, _timeouts.Kill, CancellationToken.None).ConfigureAwait(false);
            // The pid file is still that process's (IsSame read it): its runtime files are too.
            RemoveRuntimeFiles(config, secondarySite);
        }

        private bool IsSame(ColoConfig config, ColoSite site, ProcessIdentity identity)
            => _host.Qemu.RunningPid(config.PidFileOf(site)) == identity.Pid
               && _host.Processes.StartTime(identity.Pid) == identity.StartTime
               && _host.Processes.CommandLineContains(identity.Pid, config.QmpSocketOf(site));

        /// <summary>
        /// A remote node's QEMU can only be asked to quit over its monitor; its host's own tooling
        /// (or its next start, which clears them) deals with the files it left there.
        /// </summary>
        private async Task QuitRemoteAsync(ColoNode node)
        {
            if (node.Session.State == QmpSessionState.Running)
            {
                try { await node.Session.ExecuteAsync("quit", null, new QmpCallOptions { Timeout = _timeouts.Quit }, CancellationToken.None).ConfigureAwait(false); }
                catch (QmpException) { /* it closes the monitor as it goes, or is gone already */ }
            }
            node.Session.Dispose();
            _host.Qmp.Unregister(node.Session);
            node.Role = ColoRole.Stopped;
        }

        /// <summary>The files a node creates at its site; the parent disk and the log stay.</summary>
        public void RemoveRuntimeFiles(ColoConfig config, ColoSite site)
        {
            foreach (var f in new[] { config.QmpSocketOf(site), config.WatchSocketOf(site), config.PidFileOf(site), config.ActiveOverlayOf(site), config.HiddenOverlayOf(site) })
                _host.Qemu.DeleteFile(f);
        }

        /// <summary>The secondary's session: from its node, or one this process already holds to the other site's socket.</summary>
        public QmpSession? PeerSession(ColoConfig config, ColoSite primarySite, ColoNode? secondary)
            => secondary?.Session ?? _host.Qmp.FindUnix(config.QmpSocketOf(ColoConfig.Other(primarySite)));
    }
}
