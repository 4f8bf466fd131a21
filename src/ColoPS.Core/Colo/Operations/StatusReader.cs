using System;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu.States;
using ColoPS.Qmp;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>Reads one side's status. Never throws for a dead side: it reports Down with the reason.</summary>
    public sealed class StatusReader
    {
        private readonly ColoHost _host;
        private readonly ColoTimeouts _timeouts;

        public StatusReader(ColoHost host, ColoTimeouts timeouts)
        {
            _host = host;
            _timeouts = timeouts;
        }

        /// <summary>
        /// Whether the links (TLS of each channel) are read too: two more round trips, which a guard
        /// that looks every tick does without (the protection state does not depend on them).
        /// </summary>
        public bool ReadLinks { get; init; } = true;

        public async Task<ColoStatus> ReadAsync(ColoNode node, CancellationToken ct)
        {
            var status = await ReadAsync(node.Session, node.ProcessId, node.ProtectedSinceSequence, ct).ConfigureAwait(false);
            status.NodeName = node.Name;
            status.Site = node.Site;
            status.Role = node.Role;
            if (node.Role == ColoRole.Primary) status.Checkpoints = node.Checkpoints.Read();
            // A remote node's log is on its own host.
            if (status.Protection == ColoProtection.Down && !node.IsRemote && !_host.Processes.IsAlive(node.ProcessId))
            {
                // A QEMU that ended by itself (an assertion, a fatal migration error) said why in its log.
                string? last = LastLogLine(node);
                if (last != null) status.Message += " Its log ends: " + last;
            }
            return status;
        }

        /// <param name="processId">Null for a session without a known process (Get-ColoStatus -Session).</param>
        /// <param name="protectedSince">COLO_EXIT events after this sequence count.</param>
        public async Task<ColoStatus> ReadAsync(QmpSession session, int? processId, long protectedSince, CancellationToken ct)
        {
            var result = new ColoStatus { NodeName = session.Name, ProcessId = processId, ReadAt = _host.Clock.GetLocalNow() };
            if (processId.HasValue && processId.Value > 0 && !_host.Processes.IsAlive(processId.Value))
                return Down(result, $"The QEMU process {processId} is gone.");
            if (processId.HasValue && processId.Value > 0 && _host.Processes.IsFrozen(processId.Value))
                return Down(result, $"The QEMU process {processId} is stopped (SIGSTOP) and cannot answer.");
            var call = new QmpCallOptions { Timeout = _timeouts.StatusQuery };
            JsonElement chardevs;
            try
            {
                var snapshot = await QemuSnapshot.ReadAsync(session, call, ct).ConfigureAwait(false);
                result.Alive = true;
                result.RunState = snapshot.RunState;
                result.Mode = snapshot.Mode;
                result.LastMode = snapshot.LastMode;
                result.Reason = snapshot.Reason;
                result.MigrationStatus = snapshot.Migration;
                // One read of the chardevs serves the links and the peer-link check below.
                chardevs = await session.ExecuteAsync("query-chardev", null, call, ct).ConfigureAwait(false);
                if (ReadLinks) result.Links = await LinkReader.ReadAsync(session, snapshot.Mode, chardevs, call, ct).ConfigureAwait(false);
            }
            catch (QmpCommandException ex) when (ex.ErrorClass == QmpCommandException.CommandNotFound && ex.Command == "query-colo-status")
            {
                result.Alive = true;
                result.Protection = ColoProtection.Unprotected;
                result.Message = "This QEMU has no COLO support (built without replication): it cannot be protected.";
                return result;
            }
            catch (QmpException ex)
            {
                return Down(result, "QMP does not answer: " + ex.Message);
            }

            var exit = session.GetEvents(protectedSince).LastOrDefault(e => e.Name == "COLO_EXIT");
            (result.Protection, result.Message) = StatusDerivation.Derive(result, exit);
            if (result.Protection == ColoProtection.Protected)
            {
                // COLO_EXIT is sent once; a session opened later never sees it. The peer-facing
                // sockets tell the same story at any time.
                string? down = PeerLinkDown(chardevs, result.Mode == ColoMode.Secondary);
                if (down != null) (result.Protection, result.Message) = (ColoProtection.Failed, down);
            }
            return result;
        }

        private static string? PeerLinkDown(JsonElement chardevs, bool secondary)
        {
            var peerFacing = Ids.PeerFacingChardevs(secondary);
            foreach (var c in chardevs.EnumerateArray())
            {
                string? label = Json.Str(c, "label");
                string? file = Json.Str(c, "filename");
                if (label != null && peerFacing.Contains(label) && file != null && file.StartsWith("disconnected", StringComparison.Ordinal))
                    return $"The link to the peer is down ({label}: {file}); run Invoke-ColoFailover here if the peer is gone.";
            }
            return null;
        }

        private string? LastLogLine(ColoNode node)
        {
            // Once a newer QEMU runs at the site, this node's log is the kept previous one.
            string log = node.Config.QemuLogOf(node.Site);
            var running = _host.Qemu.RunningPid(node.Config.PidFileOf(node.Site));
            if (running.HasValue && running.Value != node.ProcessId) log += ".1";
            return _host.Qemu.ReadLogTail(log).Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0);
        }

        private static ColoStatus Down(ColoStatus s, string message)
        {
            s.Alive = false;
            s.Protection = ColoProtection.Down;
            s.Message = message;
            return s;
        }
    }
}
