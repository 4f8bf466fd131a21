using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>Quits a node's QEMU, waits for it (kills it when it does not go) and removes the files the node created. The parent disk stays.</summary>
    public sealed class StopOperation
    {
        private readonly ColoHost _host;
        private readonly ColoTimeouts _timeouts;
        private readonly Action<string>? _note;

        /// <param name="note">Told what did not go as asked (a quit QEMU refused, a kill): the cmdlet shows it as verbose output.</param>
        public StopOperation(ColoHost host, ColoTimeouts timeouts, Action<string>? note)
        {
            _host = host;
            _timeouts = timeouts;
            _note = note;
        }

        /// <summary>How long to wait for the process: a QEMU that took the quit gets the whole time, one that did not (frozen, hung) a short grace.</summary>
        public TimeSpan ExitWait(bool quitTaken, TimeSpan timeout) => quitTaken || timeout < _timeouts.UnresponsiveGrace ? timeout : _timeouts.UnresponsiveGrace;

        public async Task RunAsync(ColoNode node, TimeSpan timeout, CancellationToken ct)
        {
            if (node.IsRemote)
            {
                await StopRemoteAsync(node, timeout, ct).ConfigureAwait(false);
                return;
            }
            bool quitTaken = false;
            if (node.Session.State == QmpSessionState.Running && !_host.Processes.IsFrozen(node.ProcessId))
            {
                try
                {
                    await node.Session.ExecuteAsync("quit", null, new QmpCallOptions { Timeout = _timeouts.Quit }, ct).ConfigureAwait(false);
                    quitTaken = true;
                }
                catch (QmpDisconnectedException) { quitTaken = true; /* QEMU may close the socket before it answers */ }
                catch (QmpException ex) { _note?.Invoke($"{node.Name} did not take the quit ({ex.Message}); it is killed if it does not end within {_timeouts.UnresponsiveGrace.TotalSeconds:0.#} s."); }
            }
            else
            {
                _note?.Invoke($"{node.Name} cannot be asked to quit ({(node.Session.State == QmpSessionState.Running ? "frozen" : "no session")}); it is killed if it does not end within {_timeouts.UnresponsiveGrace.TotalSeconds:0.#} s.");
            }
            var launcher = new NodeLauncher(_host, _timeouts);
            if (!await _host.Processes.WaitForExitAsync(node.ProcessId, ExitWait(quitTaken, timeout), ct).ConfigureAwait(false) && launcher.IsNodeProcess(node))
            {
                _note?.Invoke($"{node.Name} (pid {node.ProcessId}) did not end: killed.");
            }
            await launcher.DiscardAsync(node).ConfigureAwait(false);
        }

        // No process to wait for or kill from here: the quit is taken when QEMU closes its monitor.
        private async Task StopRemoteAsync(ColoNode node, TimeSpan timeout, CancellationToken ct)
        {
            if (node.Session.State != QmpSessionState.Running)
                throw new ColoException("ColoRemoteNodeUnreachable", ColoErrorKind.ResourceUnavailable,
                    $"{node.Name} runs on another host and its remote monitor session is {node.Session.State}; stop it on its host, or connect again (Connect-ColoNode -Remote).");
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            node.Session.Disconnected += (_, _) => closed.TrySetResult();
            if (node.Session.State != QmpSessionState.Running) closed.TrySetResult();
            try
            {
                await node.Session.ExecuteAsync("quit", null, new QmpCallOptions { Timeout = _timeouts.Quit }, ct).ConfigureAwait(false);
            }
            catch (QmpDisconnectedException) { /* QEMU may close the monitor before it answers */ }
            try
            {
                await closed.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _note?.Invoke($"{node.Name} took the quit but its remote monitor stayed open for {timeout.TotalSeconds:0.#} s; check its host.");
            }
            node.Session.Dispose();
            _host.Qmp.Unregister(node.Session);
            node.Role = ColoRole.Stopped;
        }
    }
}
