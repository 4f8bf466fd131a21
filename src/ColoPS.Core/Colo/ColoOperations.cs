using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qemu;
using ColoPS.Qmp;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo
{
    /// <summary>Options of a start.</summary>
    public sealed class ColoStartOptions
    {
        public ColoTimeouts Timeouts { get; set; } = new ColoTimeouts();

        /// <summary>Start even on a QEMU version known to be unable to act as COLO primary (for testing the detection).</summary>
        public bool SkipVersionCheck { get; set; }
    }

    /// <summary>
    /// The COLO lifecycle: start each side, fail over, resume, stop and read status. Cmdlets are
    /// thin wrappers around these; everything here is testable without PowerShell.
    /// </summary>
    public static class ColoOperations
    {
        #region Start

        public static async Task<ColoNode> StartSecondaryAsync(ColoConfig config, ColoSite site, ColoStartOptions options, Action<ColoProgress>? progress, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config);
            var version = await QemuBinary.GetVersionAsync(config.Qemu.Binary, Environment(config), ct).ConfigureAwait(false);
            var accelerator = QemuBinary.ResolveAccelerator(config.Qemu.Accelerator);
            PrepareSite(config, site);
            var img = new QemuImage(config.Qemu.ImgBinary);
            progress?.Invoke(new ColoProgress("Start secondary", "Preparing disks", 10));
            await EnsureParentDiskAsync(config, site, img, ct).ConfigureAwait(false);
            long size = await img.GetVirtualSizeAsync(config.DiskPathOf(site), ct).ConfigureAwait(false);
            foreach (var overlay in new[] { config.ActiveOverlayOf(site), config.HiddenOverlayOf(site) })
            {
                // Fresh overlays of exactly the parent's size: a size mismatch looks valid and corrupts silently.
                File.Delete(overlay);
                await img.CreateAsync(overlay, size, ct).ConfigureAwait(false);
            }

            progress?.Invoke(new ColoProgress("Start secondary", "Starting QEMU", 30));
            var args = QemuCommandLine.Secondary(config, site, version, accelerator);
            var node = await LaunchAsync(config, site, ColoRole.Secondary, args, version, accelerator, options.Timeouts, ct).ConfigureAwait(false);
            try
            {
                await new ColoPlanRunner(node.Session, options.Timeouts, progress).RunAsync(ColoPlans.SecondaryPrepare(config, site, QemuFeatures.Of(version)), ct).ConfigureAwait(false);
                return node;
            }
            catch
            {
                await DiscardAsync(node).ConfigureAwait(false);
                throw;
            }
        }

        /// <summary>
        /// Starts the primary QEMU at <paramref name="site"/> (or uses <paramref name="existing"/>),
        /// attaches replication and migrates into COLO. A migration that ends anywhere but "colo"
        /// is a failed start: the secondary, which would otherwise run a second copy of the VM, is
        /// killed, and a primary this call started is stopped.
        /// </summary>
        public static async Task<ColoNode> StartPrimaryAsync(ColoConfig config, ColoSite site, ColoNode? secondary, QmpSession? existing, ColoStartOptions options, Action<ColoProgress>? progress, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config);
            var accelerator = QemuBinary.ResolveAccelerator(config.Qemu.Accelerator);
            var version = existing?.QemuVersion ?? await QemuBinary.GetVersionAsync(config.Qemu.Binary, Environment(config), ct).ConfigureAwait(false);
            if (!options.SkipVersionCheck) QemuFeatures.Of(version).ThrowIfCannotBePrimary();
            var peer = PeerSession(config, site, secondary);

            ColoNode node;
            if (existing != null)
            {
                // The caller's QEMU says itself which accelerator it runs.
                var kvm = await existing.ExecuteAsync("query-kvm", null, ct).ConfigureAwait(false);
                accelerator = kvm.TryGetProperty("enabled", out var on) && on.ValueKind == JsonValueKind.True ? ColoAccelerator.Kvm : ColoAccelerator.Tcg;
                node = new ColoNode(config, site, ColoRole.Primary, PidOfSocket(config, site), existing, version, accelerator);
            }
            else
            {
                PrepareSite(config, site);
                await EnsureParentDiskAsync(config, site, new QemuImage(config.Qemu.ImgBinary), ct).ConfigureAwait(false);
                progress?.Invoke(new ColoProgress("Start primary", "Starting QEMU", 5));
                var args = QemuCommandLine.Primary(config, site, version, accelerator);
                node = await LaunchAsync(config, site, ColoRole.Primary, args, version, accelerator, options.Timeouts, ct).ConfigureAwait(false);
            }

            try
            {
                node.ProtectedSinceSequence = node.Session.LastEventSequence;
                await new ColoPlanRunner(node.Session, options.Timeouts, progress, peer).RunAsync(ColoPlans.PrimaryProtect(config, site, QemuFeatures.Of(version)), ct).ConfigureAwait(false);
                node.Role = ColoRole.Primary;
                node.CountCheckpointsFromNow();
                if (secondary != null) secondary.ProtectedSinceSequence = Math.Min(secondary.ProtectedSinceSequence, secondary.Session.LastEventSequence);
                return node;
            }
            catch (Exception) when (existing == null)
            {
                await KillSecondaryAsync(config, site, secondary).ConfigureAwait(false);
                await DiscardAsync(node).ConfigureAwait(false);
                throw;
            }
            catch (Exception ex)
            {
                await KillSecondaryAsync(config, site, secondary).ConfigureAwait(false);
                if (existing!.State != QmpSessionState.Running) throw;
                // The caller's own QEMU stays, running alone again: without its link to the
                // secondary, and not stuck paused or in postmigrate.
                var failures = await RollBackAsync(node, PlanStartRollbackAsync, "start", options.Timeouts, progress).ConfigureAwait(false);
                if (failures.Count > 0) ex.Data[RollbackFailuresKey] = failures.ToArray();
                throw;
            }
        }

        /// <summary>Key in Exception.Data of a failed start on the caller's QEMU: the roll-back steps that failed (string[]).</summary>
        public const string RollbackFailuresKey = "ColoPS.RollbackFailures";

        /// <summary>The clean-up of a failed start on the caller's QEMU, from what it holds now. Read-only.</summary>
        public static async Task<ColoPlan> PlanStartRollbackAsync(ColoNode primary, CancellationToken ct)
        {
            var left = await ReadLeftOverAsync(primary.Session, ct).ConfigureAwait(false);
            return ColoPlans.StartRollback(primary.Config, primary.Site, left.ReplicationChild, left.Yank, left.Paused);
        }

        /// <summary>The QEMU invocation of one side, as Start-ColoPrimary and Start-ColoSecondary run it.</summary>
        public static async Task<ColoCommandLine> GetCommandLineAsync(ColoConfig config, ColoSite site, ColoRole role, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config);
            if (role != ColoRole.Primary && role != ColoRole.Secondary)
                throw new ColoException("ColoRoleInvalid", ColoErrorKind.InvalidArgument, $"A QEMU starts as Primary or Secondary, not {role}.");
            var env = Environment(config) ?? new Dictionary<string, string>();
            var version = await QemuBinary.GetVersionAsync(config.Qemu.Binary, env, ct).ConfigureAwait(false);
            var accelerator = QemuBinary.ResolveAccelerator(config.Qemu.Accelerator);
            var args = role == ColoRole.Primary
                ? QemuCommandLine.Primary(config, site, version, accelerator)
                : QemuCommandLine.Secondary(config, site, version, accelerator);
            return new ColoCommandLine(config, site, role, config.Qemu.Binary, args, env, version, accelerator);
        }

        private static async Task KillSecondaryAsync(ColoConfig config, ColoSite primarySite, ColoNode? secondary)
        {
            // A secondary left running after a failed start or resume is a second live copy of the VM
            // (only one on this host can be reached: its node, or the pid file of its site here).
            var secondarySite = ColoConfig.Other(primarySite);
            int? pid = secondary?.ProcessId ?? QemuLauncher.RunningPid(config.PidFileOf(secondarySite));
            if (pid.HasValue) ProcessProbe.Kill(pid.Value, TimeSpan.FromSeconds(10));
            if (secondary != null)
            {
                await DiscardAsync(secondary).ConfigureAwait(false);
            }
            else
            {
                RemoveRuntimeFiles(config, secondarySite);
            }
        }

        #endregion

        /// <summary>
        /// A node for a QEMU that is already running at a site (started by another process, a
        /// previous runbook, or by hand with ColoPS's command line): its pid from the site's pid
        /// file, a session to its QMP socket, and its role from query-colo-status.
        /// </summary>
        public static async Task<ColoNode> AttachAsync(ColoConfig config, ColoSite site, TimeSpan timeout, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config, checkFiles: false);
            int pid = QemuLauncher.RunningPid(config.PidFileOf(site))
                ?? throw new ColoException("ColoNodeNotRunning", ColoErrorKind.ObjectNotFound,
                    $"No QEMU of {config.Name} runs at site {site} (no live process in {config.PidFileOf(site)}).");
            var socket = config.QmpSocketOf(site);
            var session = FindSession(socket);
            if (session == null)
            {
                session = await QmpSession.ConnectAsync(QmpEndpoint.Unix(socket), new QmpSessionOptions
                {
                    Name = config.Name + "-" + site,
                    ConnectTimeout = timeout,
                }, ct).ConfigureAwait(false);
                QmpSessionRegistry.Add(session);
            }
            var colo = await session.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
            var run = await session.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
            var role = (ColoPlanRunner.Str(colo, "mode"), ColoPlanRunner.Str(run, "status")) switch
            {
                ("primary", _) => ColoRole.Primary,
                ("secondary", _) => ColoRole.Secondary,
                (_, "inmigrate") => ColoRole.Secondary,
                _ => ColoRole.Standalone,
            };
            var node = new ColoNode(config, site, role, pid, session, session.QemuVersion!, QemuBinary.ResolveAccelerator(config.Qemu.Accelerator));
            // What happened before this process attached is not known: count from the attach.
            if (role == ColoRole.Primary) node.CountCheckpointsFromNow();
            return node;
        }

        #region Failover

        /// <summary>What a failover will do, worked out from the survivor's state without changing anything.</summary>
        public sealed class FailoverPlan
        {
            internal FailoverPlan(ColoPlan plan, ColoRole fromRole, bool peerAnswers, string peerState)
            {
                Plan = plan;
                FromRole = fromRole;
                PeerAnswers = peerAnswers;
                PeerState = peerState;
            }

            public ColoPlan Plan { get; }
            public ColoRole FromRole { get; }
            public bool PeerAnswers { get; }
            public string PeerState { get; }
        }

        /// <summary>Reads the survivor's COLO mode, its quorum children and yank instances, and builds the matching failover plan. Read-only.</summary>
        public static async Task<FailoverPlan> PlanFailoverAsync(ColoNode survivor, CancellationToken ct)
        {
            var s = survivor.Session;
            var colo = await s.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
            string mode = ColoPlanRunner.Str(colo, "mode") ?? "none";
            // When the secondary dies the primary may already have left COLO by itself (COLO_EXIT
            // reason error); the doc's clean-up still applies, so the last mode counts too.
            string role = mode != "none" ? mode : (ColoPlanRunner.Str(colo, "last-mode") ?? "none");
            if (role == "none" || (mode == "none" && survivor.Role == ColoRole.Standalone))
            {
                throw new ColoException("ColoNotProtected", ColoErrorKind.InvalidState,
                    $"{survivor.Name} is not in COLO (mode none, role {survivor.Role}); there is nothing to fail over. Use Resume-ColoReplication to protect it.");
            }

            var (answers, peerState) = await ProbePeerAsync(survivor, ct).ConfigureAwait(false);
            var yank = await YankTargetsAsync(s, role == "secondary"
                ? new[] { Ids.SecondaryMirrorChardev, Ids.SecondaryCompareChardev }
                : new[] { Ids.Mirror, Ids.Compare }, ct).ConfigureAwait(false);

            ColoPlan plan;
            if (role == "secondary")
            {
                plan = ColoPlans.SecondaryFailover(survivor.Config, survivor.Site, yank);
            }
            else
            {
                string child = await FindQuorumChildAsync(s, Ids.ReplicationNode, ct).ConfigureAwait(false)
                    ?? throw new ColoException("ColoReplicationChildNotFound", ColoErrorKind.ObjectNotFound,
                        $"{survivor.Name} has no {Ids.ReplicationNode} child under {Ids.Disk}; replication is not attached.");
                plan = ColoPlans.PrimaryFailover(survivor.Config, survivor.Site, child, yank);
            }
            return new FailoverPlan(plan, role == "secondary" ? ColoRole.Secondary : ColoRole.Primary, answers, peerState);
        }

        public static async Task FailoverAsync(ColoNode survivor, FailoverPlan plan, ColoTimeouts timeouts, Action<ColoProgress>? progress, CancellationToken ct)
        {
            await new ColoPlanRunner(survivor.Session, timeouts, progress).RunAsync(plan.Plan, ct).ConfigureAwait(false);
            survivor.Role = ColoRole.Standalone;
            // The COLO_EXIT that announced the lost peer is handled now; status reads from here on.
            survivor.ProtectedSinceSequence = survivor.Session.LastEventSequence;
        }

        /// <summary>
        /// Whether the peer still answers QMP: then a failover would leave two live copies. A
        /// frozen or dead peer does not answer. An existing session to the peer is used when there
        /// is one, because QEMU's monitor serves one client at a time.
        /// </summary>
        public static async Task<(bool Answers, string State)> ProbePeerAsync(ColoNode node, CancellationToken ct)
        {
            var socket = node.Config.QmpSocketOf(ColoConfig.Other(node.Site));
            var peerPid = QemuLauncher.RunningPid(node.Config.PidFileOf(ColoConfig.Other(node.Site)));
            if (peerPid.HasValue && ProcessProbe.IsFrozen(peerPid.Value)) return (false, $"frozen (pid {peerPid})");

            var existing = FindSession(socket);
            try
            {
                if (existing != null)
                {
                    var st = await existing.ExecuteAsync("query-status", null, new QmpCallOptions { Timeout = TimeSpan.FromSeconds(3) }, ct).ConfigureAwait(false);
                    return (true, $"it answers QMP (run state {ColoPlanRunner.Str(st, "status")})");
                }
                if (!File.Exists(socket)) return (false, peerPid.HasValue ? $"process {peerPid} without a QMP socket" : "no process, no QMP socket");
                using var probe = await QmpSession.ConnectAsync(QmpEndpoint.Unix(socket), new QmpSessionOptions { ConnectTimeout = TimeSpan.FromSeconds(3), CommandTimeout = TimeSpan.FromSeconds(3) }, ct).ConfigureAwait(false);
                var status = await probe.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
                return (true, $"it answers QMP (run state {ColoPlanRunner.Str(status, "status")})");
            }
            catch (QmpGreetingException) when (peerPid.HasValue && ProcessProbe.IsAlive(peerPid.Value) && !ProcessProbe.IsFrozen(peerPid.Value))
            {
                // A running process whose monitor gives no greeting is serving another client, not dead.
                return (true, $"its process {peerPid} runs and its QMP monitor is held by another client");
            }
            catch (QmpException ex)
            {
                return (false, "it does not answer: " + ex.Message);
            }
        }

        #endregion

        #region Resume

        /// <summary>
        /// The resume plan for a survivor, read-only: filters go before rew0 when the survivor has
        /// one. <paramref name="secondary"/> is null when the new secondary runs on another host
        /// (it was started there; only its site's address and ports are used).
        /// </summary>
        public static async Task<ColoPlan> PlanResumeAsync(ColoNode survivor, ColoNode? secondary, CancellationToken ct)
        {
            if (secondary != null && secondary.Site == survivor.Site)
                throw new ColoException("ColoSameSite", ColoErrorKind.InvalidArgument, $"{secondary.Name} runs at the survivor's own site {survivor.Site}; the new secondary belongs at site {ColoConfig.Other(survivor.Site)}.");
            if (secondary != null && secondary.Role != ColoRole.Secondary)
                throw new ColoException("ColoNotSecondary", ColoErrorKind.InvalidArgument, $"{secondary.Name} is {secondary.Role}, not a freshly started secondary (Start-ColoSecondary).");
            QemuFeatures.Of(survivor.QemuVersion).ThrowIfCannotBePrimary();
            var colo = await survivor.Session.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
            if (ColoPlanRunner.Str(colo, "mode") != "none")
                throw new ColoException("ColoStillProtected", ColoErrorKind.InvalidState, $"{survivor.Name} is still in COLO mode {ColoPlanRunner.Str(colo, "mode")}; fail over first.");
            var objects = await survivor.Session.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/objects" }, ct).ConfigureAwait(false);
            bool hasRewriter = objects.EnumerateArray().Any(o => ColoPlanRunner.Str(o, "name") == Ids.Rewriter);
            return ColoPlans.Resume(survivor.Config, survivor.Site, hasRewriter, QemuFeatures.Of(survivor.QemuVersion));
        }

        public static async Task ResumeAsync(ColoNode survivor, ColoNode? secondary, ColoPlan plan, ColoTimeouts timeouts, Action<ColoProgress>? progress, CancellationToken ct)
        {
            survivor.ProtectedSinceSequence = survivor.Session.LastEventSequence;
            var peer = PeerSession(survivor.Config, survivor.Site, secondary);
            try
            {
                await new ColoPlanRunner(survivor.Session, timeouts, progress, peer).RunAsync(plan, ct).ConfigureAwait(false);
            }
            catch (Exception) when (survivor.Session.State == QmpSessionState.Running)
            {
                // The survivor must keep serving: the new secondary (possibly a second live copy if
                // the migration ended without COLO) goes when it runs on this host, and what the
                // resume added is taken away.
                await KillSecondaryAsync(survivor.Config, survivor.Site, secondary).ConfigureAwait(false);
                survivor.RollbackFailures = await RollBackAsync(survivor, PlanResumeRollbackAsync, "resume", timeouts, progress).ConfigureAwait(false);
                survivor.ProtectedSinceSequence = survivor.Session.LastEventSequence;
                throw;
            }
            survivor.Role = ColoRole.Primary;
            survivor.CountCheckpointsFromNow();
        }

        /// <summary>The clean-up of a failed resume, from what the survivor holds now. Read-only.</summary>
        public static async Task<ColoPlan> PlanResumeRollbackAsync(ColoNode survivor, CancellationToken ct)
        {
            var left = await ReadLeftOverAsync(survivor.Session, ct).ConfigureAwait(false);
            var objects = await survivor.Session.ExecuteAsync("qom-list", new JsonObject { ["path"] = "/objects" }, ct).ConfigureAwait(false);
            var chardevs = await survivor.Session.ExecuteAsync("query-chardev", null, ct).ConfigureAwait(false);
            return ColoPlans.ResumeRollback(survivor.Config, survivor.Site, left.MirrorJob, left.ReplicationChild,
                Names(objects, "name"), Names(chardevs, "label"), left.Yank, left.Paused);
        }

        /// <summary>What a failed start or resume left on a QEMU that still answers: its link to the secondary and its run state.</summary>
        private sealed record LeftOver(bool MirrorJob, string? ReplicationChild, IReadOnlyList<JsonObject> Yank, bool Paused);

        private static async Task<LeftOver> ReadLeftOverAsync(QmpSession s, CancellationToken ct)
        {
            var jobs = await s.ExecuteAsync("query-block-jobs", null, ct).ConfigureAwait(false);
            bool mirror = jobs.EnumerateArray().Any(j => ColoPlanRunner.Str(j, "device") == ColoPlans.MirrorJob);
            string? child = await FindQuorumChildAsync(s, Ids.ReplicationNode, ct).ConfigureAwait(false);
            // Only the link to the new secondary: a survivor that was a secondary still has its own chardevs.
            var yank = (await YankTargetsAsync(s, Array.Empty<string>(), ct).ConfigureAwait(false)).Where(y => (string?)y["type"] == "block-node").ToList();
            var run = await s.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
            // prelaunch: a caller's QEMU started with -S that never ran.
            bool paused = ColoPlanRunner.Str(run, "status") is "paused" or "postmigrate" or "prelaunch";
            return new LeftOver(mirror, child, yank, paused);
        }

        private static IReadOnlyCollection<string> Names(JsonElement list, string member)
            => list.EnumerateArray().Select(e => ColoPlanRunner.Str(e, member)).OfType<string>().ToList();

        /// <summary>Runs a roll-back on a QEMU that still answers; returns what could not be undone.</summary>
        private static async Task<IReadOnlyList<string>> RollBackAsync(ColoNode node, Func<ColoNode, CancellationToken, Task<ColoPlan>> plan, string what, ColoTimeouts timeouts, Action<ColoProgress>? progress)
        {
            try
            {
                var rollback = await plan(node, CancellationToken.None).ConfigureAwait(false);
                return await new ColoPlanRunner(node.Session, timeouts, progress).RunBestEffortAsync(rollback, CancellationToken.None).ConfigureAwait(false);
            }
            catch (QmpException ex)
            {
                return new[] { $"The {what} could not be rolled back: " + ex.Message };
            }
        }

        #endregion

        #region Stop and status

        /// <summary>Quits QEMU, waits for it (kills it after the timeout) and removes the files the node created. The parent disk stays.</summary>
        public static async Task StopAsync(ColoNode node, TimeSpan timeout, CancellationToken ct)
        {
            bool quitting = false;
            if (node.Session.State == QmpSessionState.Running && !ProcessProbe.IsFrozen(node.ProcessId))
            {
                try
                {
                    await node.Session.ExecuteAsync("quit", null, new QmpCallOptions { Timeout = TimeSpan.FromSeconds(5) }, ct).ConfigureAwait(false);
                    quitting = true;
                }
                catch (QmpDisconnectedException) { quitting = true; /* QEMU may close the socket before it answers */ }
                catch (QmpException) { }
            }
            // A QEMU that is frozen or did not take the quit (a hung main loop) will not exit by itself.
            if (!quitting) timeout = TimeSpan.FromMilliseconds(Math.Min(timeout.TotalMilliseconds, 500));
            if (!ProcessProbe.WaitForExit(node.ProcessId, timeout, ct) && IsNodeProcess(node)) ProcessProbe.Kill(node.ProcessId, TimeSpan.FromSeconds(10));
            await DiscardAsync(node).ConfigureAwait(false);
        }

        public static async Task<ColoStatus> GetStatusAsync(ColoNode node, CancellationToken ct, TimeSpan? queryTimeout = null)
        {
            var status = await GetStatusAsync(node.Session, node.ProcessId, node.ProtectedSinceSequence, ct, queryTimeout).ConfigureAwait(false);
            status.NodeName = node.Name;
            status.Site = node.Site;
            status.Role = node.Role;
            if (node.Role == ColoRole.Primary) status.Checkpoints = node.Checkpoints.Read();
            if (status.Protection == ColoProtection.Down && !ProcessProbe.IsAlive(node.ProcessId))
            {
                // A QEMU that ended by itself (an assertion, a fatal migration error) said why in its log.
                string? last = LastLogLine(node);
                if (last != null) status.Message += " Its log ends: " + last;
            }
            return status;
        }

        private static string? LastLogLine(ColoNode node)
        {
            // Once a newer QEMU runs at the site, this node's log is the kept previous one.
            string log = node.Config.QemuLogOf(node.Site);
            var running = QemuLauncher.RunningPid(node.Config.PidFileOf(node.Site));
            if (running.HasValue && running.Value != node.ProcessId) log += ".1";
            return QemuLauncher.ReadTail(log).Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0);
        }

        /// <summary>Reads one side. Never throws for a dead side: it reports Down with the reason.</summary>
        /// <param name="queryTimeout">Limit of each query; a side that does not answer in it reads Down. 5 seconds when null.</param>
        public static async Task<ColoStatus> GetStatusAsync(QmpSession session, int? processId, long protectedSince, CancellationToken ct, TimeSpan? queryTimeout = null)
        {
            var result = new ColoStatus { NodeName = session.Name, ProcessId = processId, ReadAt = DateTimeOffset.Now };
            if (processId.HasValue && processId.Value > 0 && !ProcessProbe.IsAlive(processId.Value))
            {
                return Down(result, $"The QEMU process {processId} is gone.");
            }
            if (processId.HasValue && processId.Value > 0 && ProcessProbe.IsFrozen(processId.Value))
            {
                return Down(result, $"The QEMU process {processId} is stopped (SIGSTOP) and cannot answer.");
            }
            var call = new QmpCallOptions { Timeout = queryTimeout ?? TimeSpan.FromSeconds(5) };
            try
            {
                var run = await session.ExecuteAsync("query-status", null, call, ct).ConfigureAwait(false);
                var migrate = await session.ExecuteAsync("query-migrate", null, call, ct).ConfigureAwait(false);
                JsonElement colo;
                try
                {
                    colo = await session.ExecuteAsync("query-colo-status", null, call, ct).ConfigureAwait(false);
                }
                catch (QmpCommandException ex) when (ex.ErrorClass == QmpCommandException.CommandNotFound)
                {
                    result.Alive = true;
                    result.RunState = ColoPlanRunner.Str(run, "status");
                    result.MigrationStatus = ColoPlanRunner.Str(migrate, "status") ?? "none";
                    result.Protection = ColoProtection.Unprotected;
                    result.Message = "This QEMU has no COLO support (built without replication): it cannot be protected.";
                    return result;
                }
                result.Alive = true;
                result.RunState = ColoPlanRunner.Str(run, "status");
                result.Mode = ColoPlanRunner.Str(colo, "mode");
                result.LastMode = ColoPlanRunner.Str(colo, "last-mode");
                result.Reason = ColoPlanRunner.Str(colo, "reason");
                result.MigrationStatus = ColoPlanRunner.Str(migrate, "status") ?? "none";
            }
            catch (QmpException ex)
            {
                return Down(result, "QMP does not answer: " + ex.Message);
            }

            var exit = session.GetEvents(protectedSince).LastOrDefault(e => e.Name == "COLO_EXIT");
            (result.Protection, result.Message) = Derive(result, exit);
            if (result.Protection == ColoProtection.Protected)
            {
                // COLO_EXIT is sent once; a session opened later never sees it. The peer-facing
                // sockets tell the same story at any time.
                string? down;
                try { down = await PeerLinkDownAsync(session, result.Mode == "secondary", call, ct).ConfigureAwait(false); }
                catch (QmpException ex) { return Down(result, "QMP stopped answering: " + ex.Message); }
                if (down != null) (result.Protection, result.Message) = (ColoProtection.Failed, down);
            }
            return result;
        }

        private static async Task<string?> PeerLinkDownAsync(QmpSession session, bool secondary, QmpCallOptions call, CancellationToken ct)
        {
            var peerFacing = secondary ? new[] { Ids.SecondaryMirrorChardev, Ids.SecondaryCompareChardev } : new[] { Ids.Mirror, Ids.Compare };
            JsonElement chardevs;
            try { chardevs = await session.ExecuteAsync("query-chardev", null, call, ct).ConfigureAwait(false); }
            catch (QmpCommandException) { return null; }
            foreach (var c in chardevs.EnumerateArray())
            {
                string? label = ColoPlanRunner.Str(c, "label");
                string? file = ColoPlanRunner.Str(c, "filename");
                if (label != null && peerFacing.Contains(label) && file != null && file.StartsWith("disconnected", StringComparison.Ordinal))
                    return $"The link to the peer is down ({label}: {file}); run Invoke-ColoFailover here if the peer is gone.";
            }
            return null;
        }

        internal static (ColoProtection, string?) Derive(ColoStatus s, QmpEvent? coloExit)
        {
            string exitReason = coloExit?.Data is JsonElement d ? ColoPlanRunner.Str(d, "reason") ?? "" : "";
            if (s.Mode == "primary" || s.Mode == "secondary")
            {
                if (coloExit != null && exitReason == "error")
                    return (ColoProtection.Failed, $"COLO_EXIT (reason error) at {coloExit.ReceivedAt:HH:mm:ss}: the peer is lost; run Invoke-ColoFailover here.");
                if (s.Mode == "secondary" || s.MigrationStatus == "colo") return (ColoProtection.Protected, null);
                return (ColoProtection.Starting, null);
            }
            switch (s.MigrationStatus)
            {
                case "setup":
                case "active":
                case "device":
                case "pre-switchover":
                case "wait-unplug":
                    return (ColoProtection.Starting, null);
                case "failed" when s.RunState == "running":
                    return (ColoProtection.Unprotected, "The last migration failed, so COLO did not start; the VM runs without a replica. Run Resume-ColoReplication.");
                case "failed":
                    return (ColoProtection.Failed, "Migration failed; COLO did not start.");
                case "completed" when s.RunState == "postmigrate":
                    return (ColoProtection.Failed, "Migration completed without entering COLO (the VM is paused in postmigrate).");
            }
            if (s.RunState == "inmigrate") return (ColoProtection.Starting, "Waiting for the primary's migration.");
            if (s.RunState == "prelaunch") return (ColoProtection.Starting, "Not started yet.");
            if (coloExit != null && exitReason == "error" && s.LastMode == "primary")
                return (ColoProtection.Failed, "The secondary is lost and COLO ended; run Invoke-ColoFailover here to clean up.");
            return (ColoProtection.Unprotected, "The VM runs without a replica; run Resume-ColoReplication.");
        }

        private static ColoStatus Down(ColoStatus s, string message)
        {
            s.Alive = false;
            s.Protection = ColoProtection.Down;
            s.Message = message;
            return s;
        }

        #endregion

        #region Helpers

        private static async Task<ColoNode> LaunchAsync(ColoConfig config, ColoSite site, ColoRole role, IReadOnlyList<string> args, QemuVersion version, ColoAccelerator accelerator, ColoTimeouts timeouts, CancellationToken ct)
        {
            int pid;
            try
            {
                pid = await QemuLauncher.StartAsync(config.Qemu.Binary, args, config.PidFileOf(site), config.QemuLogOf(site), Environment(config), timeouts.Start, ct).ConfigureAwait(false);
            }
            catch
            {
                RemoveRuntimeFiles(config, site);
                throw;
            }
            try
            {
                var session = await QmpSession.ConnectAsync(QmpEndpoint.Unix(config.QmpSocketOf(site)), new QmpSessionOptions
                {
                    Name = config.Name + "-" + site,
                    ConnectTimeout = TimeSpan.FromSeconds(20),
                    CommandTimeout = timeouts.Command,
                }, ct).ConfigureAwait(false);
                QmpSessionRegistry.Add(session);
                return new ColoNode(config, site, role, pid, session, version, accelerator);
            }
            catch (QmpException ex) when (!ProcessProbe.IsAlive(pid))
            {
                // QEMU came up and then died before its monitor answered: its log says why.
                RemoveRuntimeFiles(config, site);
                string said = QemuLauncher.ReadTail(config.QemuLogOf(site));
                throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed,
                    $"QEMU (pid {pid}) ended before its QMP monitor answered" + (said.Length > 0 ? ": " + said : " and left no message (killed?)."), ex);
            }
            catch
            {
                ProcessProbe.Kill(pid, TimeSpan.FromSeconds(10));
                RemoveRuntimeFiles(config, site);
                throw;
            }
        }

        // A process id can be reused once the QEMU is gone: only a process whose command line names
        // this node's QMP socket is ours to kill.
        private static bool IsNodeProcess(ColoNode node)
            => ProcessProbe.IsAlive(node.ProcessId) && ProcessProbe.CommandLineContains(node.ProcessId, node.Config.QmpSocketOf(node.Site));

        private static Task DiscardAsync(ColoNode node)
        {
            if (IsNodeProcess(node)) ProcessProbe.Kill(node.ProcessId, TimeSpan.FromSeconds(10));
            node.Session.Dispose();
            QmpSessionRegistry.Remove(node.Session);
            RemoveRuntimeFiles(node.Config, node.Site);
            node.Role = ColoRole.Stopped;
            return Task.CompletedTask;
        }

        private static void RemoveRuntimeFiles(ColoConfig config, ColoSite site)
        {
            foreach (var f in new[] { config.QmpSocketOf(site), config.PidFileOf(site), config.ActiveOverlayOf(site), config.HiddenOverlayOf(site) })
            {
                try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }

        private static void PrepareSite(ColoConfig config, ColoSite site)
        {
            QemuLauncher.EnsurePrivateDirectory(config.GetSite(site).WorkDirectory);
            var running = QemuLauncher.RunningPid(config.PidFileOf(site));
            if (running.HasValue)
            {
                throw new ColoException("ColoNodeAlreadyRunning", ColoErrorKind.InvalidState,
                    $"A QEMU for {config.Name} already runs at site {site} (pid {running}); stop it first (Stop-ColoNode).");
            }
            RemoveRuntimeFiles(config, site);
        }

        private static async Task EnsureParentDiskAsync(ColoConfig config, ColoSite site, QemuImage img, CancellationToken ct)
        {
            var disk = config.DiskPathOf(site);
            if (File.Exists(disk)) return;
            Directory.CreateDirectory(Path.GetDirectoryName(disk)!);
            if (!string.IsNullOrEmpty(config.Vm.DiskImage))
                await QemuImage.CopyAsync(config.Vm.DiskImage!, disk, ct).ConfigureAwait(false);
            else
                await img.CreateAsync(disk, (long)(config.Vm.DiskSizeGB * 1024 * 1024 * 1024), ct).ConfigureAwait(false);
        }

        internal static async Task<string?> FindQuorumChildAsync(QmpSession session, string nodeName, CancellationToken ct)
        {
            // The quorum's child names are not stable across failovers (children.1 may be gone),
            // so read the block graph: backend colo-disk0 -> quorum node -> named children.
            var graph = await session.ExecuteAsync("x-debug-query-block-graph", null, ct).ConfigureAwait(false);
            var nodes = graph.GetProperty("nodes").EnumerateArray().ToDictionary(n => n.GetProperty("id").GetInt64(), n => n);
            var edges = graph.GetProperty("edges").EnumerateArray().ToList();
            var backend = nodes.Values.FirstOrDefault(n => ColoPlanRunner.Str(n, "type") == "block-backend" && ColoPlanRunner.Str(n, "name") == Ids.Disk);
            if (backend.ValueKind == JsonValueKind.Undefined) return null;
            var root = edges.FirstOrDefault(e => e.GetProperty("parent").GetInt64() == backend.GetProperty("id").GetInt64());
            if (root.ValueKind == JsonValueKind.Undefined) return null;
            long quorum = root.GetProperty("child").GetInt64();
            foreach (var e in edges.Where(e => e.GetProperty("parent").GetInt64() == quorum))
            {
                if (nodes.TryGetValue(e.GetProperty("child").GetInt64(), out var child) && ColoPlanRunner.Str(child, "name") == nodeName)
                    return ColoPlanRunner.Str(e, "name");
            }
            return null;
        }

        private static async Task<IReadOnlyList<JsonObject>> YankTargetsAsync(QmpSession session, string[] peerChardevs, CancellationToken ct)
        {
            // yank needs QEMU 6.0 and oob; without them the failover runs without it.
            if (!session.OobEnabled) return Array.Empty<JsonObject>();
            JsonElement instances;
            // Out of band like the yank itself: an in-band command stuck on the dead peer must not hold it up.
            try { instances = await session.ExecuteAsync("query-yank", null, new QmpCallOptions { OutOfBand = true }, ct).ConfigureAwait(false); }
            catch (QmpCommandException) { return Array.Empty<JsonObject>(); }
            var list = new List<JsonObject>();
            foreach (var i in instances.EnumerateArray())
            {
                string? type = ColoPlanRunner.Str(i, "type");
                if (type == "migration") list.Add(new JsonObject { ["type"] = "migration" });
                // Only NBD clients register block-node yank instances; on a primary that is the
                // replication link to the secondary, which drive_del would otherwise wait on.
                else if (type == "block-node") list.Add(new JsonObject { ["type"] = "block-node", ["node-name"] = ColoPlanRunner.Str(i, "node-name") });
                else if (type == "chardev" && peerChardevs.Contains(ColoPlanRunner.Str(i, "id")))
                    list.Add(new JsonObject { ["type"] = "chardev", ["id"] = ColoPlanRunner.Str(i, "id") });
            }
            return list;
        }

        // The secondary's session: from its node, or, without the node (another process; on another
        // host there is none), one this process already holds to the other site's socket.
        private static QmpSession? PeerSession(ColoConfig config, ColoSite primarySite, ColoNode? secondary)
            => secondary?.Session ?? FindSession(config.QmpSocketOf(ColoConfig.Other(primarySite)));

        private static QmpSession? FindSession(string socket)
            => QmpSessionRegistry.GetAll().FirstOrDefault(s => s.Endpoint.Transport == QmpTransport.Unix && s.Endpoint.Path == socket && s.State == QmpSessionState.Running);

        private static int PidOfSocket(ColoConfig config, ColoSite site) => QemuLauncher.RunningPid(config.PidFileOf(site)) ?? 0;

        private static IReadOnlyDictionary<string, string>? Environment(ColoConfig config)
            => string.IsNullOrEmpty(config.Qemu.ModuleDirectory) ? null : new Dictionary<string, string> { ["QEMU_MODULE_DIR"] = config.Qemu.ModuleDirectory! };

        #endregion
    }
}
