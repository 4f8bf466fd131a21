using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Host;
using ColoPS.Colo.Operations;
using ColoPS.Qemu.States;
using ColoPS.Qmp;

namespace ColoPS.Guard
{
    /// <summary>What one look at this side's QEMU found, in the model's terms and in words.</summary>
    /// <param name="AwaitsMigration">A secondary that has not received the VM yet (run state inmigrate, outside COLO).</param>
    /// <param name="LastCheckpointAt">When this QEMU last resumed after a checkpoint (its RESUME event), as far as the guard's session saw.</param>
    public sealed record OwnReading(OwnObservation Own, GuardRole Role, int? ProcessId, string Detail, bool AwaitsMigration = false, DateTimeOffset? LastCheckpointAt = null);

    /// <summary>
    /// Watches this side's QEMU over the session the guard holds (QEMU's main monitor): the guard is
    /// the only client there while it runs, so its operations and its looks never wait on another
    /// process. A look that gets no answer counts as Frozen only on the second miss in a row: a busy
    /// host (a checkpoint, a loaded CPU) must not make the guard kill a healthy VM.
    /// </summary>
    public sealed class OwnQemuWatch
    {
        private readonly ColoHost _host;
        private readonly ColoConfig _config;
        private readonly ColoSite _site;
        private readonly TimeSpan _queryTimeout;
        private int _misses;
        private GuardRole _role = GuardRole.Secondary;
        private long _eventsSeen;
        private DateTimeOffset? _lastResume;

        /// <param name="lost">Called when the session to the own QEMU ends by itself (QEMU died): the guard looks at once instead of on its next tick.</param>
        public OwnQemuWatch(ColoHost host, ColoConfig config, ColoSite site, TimeSpan queryTimeout, Action? lost = null)
        {
            _host = host;
            _config = config;
            _site = site;
            _queryTimeout = queryTimeout;
            _onDisconnected = (_, _) => lost?.Invoke();
        }

        private readonly EventHandler _onDisconnected;

        private void Watch(ColoNode node)
        {
            Node = node;
            node.Session.Disconnected += _onDisconnected;
            // Lost before the handler was in place: say so all the same.
            if (node.Session.State is QmpSessionState.Broken or QmpSessionState.Closed) _onDisconnected(node.Session, EventArgs.Empty);
        }

        /// <summary>The node attached to the running QEMU; null while none runs. Replaced when the QEMU at the site changes.</summary>
        public ColoNode? Node { get; private set; }

        public async Task<OwnReading> ReadAsync(CancellationToken ct)
        {
            var pid = _host.Qemu.RunningPid(_config.PidFileOf(_site));
            if (pid == null)
            {
                Drop();
                return new OwnReading(OwnObservation.QemuDead, _role, null, "no QEMU runs at this site");
            }
            if (_host.Processes.IsFrozen(pid.Value)) return new OwnReading(OwnObservation.Frozen, _role, pid, $"QEMU {pid} is stopped (SIGSTOP)");
            // The session to this very QEMU ended: it is most likely exiting (its sockets close before
            // the process is gone), so a moment's wait says so now rather than a tick later.
            if (Node != null && Node.ProcessId == pid.Value && Node.Session.State == QmpSessionState.Broken && await ExitsSoonAsync(pid.Value, ct).ConfigureAwait(false))
            {
                Drop();
                return new OwnReading(OwnObservation.QemuDead, _role, pid, $"QEMU {pid} ended (its monitor closed)");
            }
            if (Node == null || Node.ProcessId != pid.Value || Node.Session.State != QmpSessionState.Running)
            {
                Drop();
                try { Watch(await new AttachOperation(_host).RunAsync(_config, _site, _queryTimeout, ct).ConfigureAwait(false)); }
                catch (Exception e) when (e is ColoException || e is QmpException)
                {
                    return Missed(pid.Value, "cannot attach to its QMP monitor: " + e.Message);
                }
            }
            var status = await new StatusReader(_host, new ColoTimeouts { StatusQuery = _queryTimeout }) { ReadLinks = false }.ReadAsync(Node!, ct).ConfigureAwait(false);
            if (!_host.Processes.IsAlive(pid.Value))
            {
                Drop();
                return new OwnReading(OwnObservation.QemuDead, _role, pid, $"QEMU {pid} ended");
            }
            if (status.Protection == ColoProtection.Down) return Missed(pid.Value, status.Message ?? "QMP does not answer");
            _misses = 0;
            // A checkpoint shows as STOP then RESUME on each side; QMP has no counter.
            foreach (var e in Node!.Session.GetEvents(_eventsSeen))
            {
                _eventsSeen = e.Sequence;
                if (e.Name == "RESUME") _lastResume = e.ReceivedAt;
            }
            return Classify(status, pid.Value) with { LastCheckpointAt = _lastResume };
        }

        private OwnReading Classify(ColoStatus s, int pid)
        {
            var mode = s.Mode ?? ColoMode.None;
            var last = s.LastMode ?? ColoMode.None;
            string words = $"QEMU {pid}: {s.Protection}, mode {mode}, {s.RunState}" + (s.Message == null ? "" : " (" + s.Message + ")");
            if (s.Protection == ColoProtection.Failed && (mode.InColo || last.InColo))
            {
                _role = (mode.InColo ? mode : last) == ColoMode.Primary ? GuardRole.Primary : GuardRole.Secondary;
                return new OwnReading(OwnObservation.ColoExitError, _role, pid, words);
            }
            if (mode == ColoMode.Primary) return new OwnReading(OwnObservation.ProtectedPrimary, _role = GuardRole.Primary, pid, words);
            // A secondary still waiting for the primary's migration sends nothing, like one in COLO.
            if (mode == ColoMode.Secondary || s.RunState == RunState.InMigrate)
                return new OwnReading(OwnObservation.ProtectedSecondary, _role = GuardRole.Secondary, pid, words, AwaitsMigration: mode != ColoMode.Secondary && !last.InColo);
            if (s.RunState == RunState.Running) return new OwnReading(OwnObservation.StandaloneRunning, _role = GuardRole.Primary, pid, words);
            // Paused outside COLO (a self-fence, a stop by hand): it sends nothing, so it is treated like a QEMU that is gone.
            return new OwnReading(OwnObservation.QemuDead, _role, pid, words + ": stopped, sends nothing");
        }

        private async Task<bool> ExitsSoonAsync(int pid, CancellationToken ct)
        {
            for (int i = 0; i < 20; i++)
            {
                if (!_host.Processes.IsAlive(pid)) return true;
                await Task.Delay(TimeSpan.FromMilliseconds(10), _host.Clock, ct).ConfigureAwait(false);
            }
            return !_host.Processes.IsAlive(pid);
        }

        private OwnReading Missed(int pid, string why)
        {
            // One miss reads as the last protected state, so the model waits for a second look.
            if (++_misses >= 2) return new OwnReading(OwnObservation.Frozen, _role, pid, $"QEMU {pid} did not answer twice: {why}");
            var own = _role == GuardRole.Primary ? OwnObservation.ProtectedPrimary : OwnObservation.ProtectedSecondary;
            return new OwnReading(own, _role, pid, $"QEMU {pid} did not answer once (looking again): {why}");
        }

        /// <summary>Takes over the session of a QEMU the guard itself just started.</summary>
        public void Adopt(ColoNode node)
        {
            Drop();
            Watch(node);
            _eventsSeen = node.Session.LastEventSequence;
            _misses = 0;
        }

        /// <summary>Closes the guard's session (QEMU's monitor serves one client: an operator may want it).</summary>
        public void Drop()
        {
            var n = Node;
            Node = null;
            _eventsSeen = 0;
            _lastResume = null;
            if (n == null) return;
            // Closed on purpose: no wake-up for that.
            n.Session.Disconnected -= _onDisconnected;
            _host.Qmp.Unregister(n.Session);
            n.Session.Dispose();
        }
    }
}
