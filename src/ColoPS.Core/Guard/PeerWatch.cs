using System.IO;
using ColoPS.Colo;
using ColoPS.Colo.Host;

namespace ColoPS.Guard
{
    /// <summary>
    /// Whether the peer's VM lives and can be reached, for the model. The network-level view is the
    /// guards' heartbeat (<see cref="GuardHeartbeat"/>). The peer's pid file is read only when the
    /// peer's folder is on this host, and only for what it cannot get wrong: a QEMU that is gone or
    /// stopped (SIGSTOP) sends nothing. A pid file that says "runs" proves nothing about the network
    /// between the sites (two namespaces on one host, a cut link), so it never makes the peer Answers.
    /// Without a heartbeat port and without those facts the answer is Unknown: the model then
    /// waits for COLO_EXIT and relies on the witness and the fencing hook.
    /// </summary>
    public sealed class PeerWatch
    {
        private readonly ColoHost _host;
        private readonly ColoConfig _config;
        private readonly ColoSite _peer;
        private readonly GuardHeartbeat? _heartbeat;

        public PeerWatch(ColoHost host, ColoConfig config, ColoSite site, GuardHeartbeat? heartbeat)
        {
            _host = host;
            _config = config;
            _peer = ColoConfig.Other(site);
            _heartbeat = heartbeat;
        }

        /// <param name="announced">The peer's QEMU the witness announces as a fresh secondary (ready key), if any.</param>
        /// <returns>What is seen of the peer, and whether what is seen is that fresh secondary (the model decides what that means to this side's role).</returns>
        public (PeerObservation Peer, bool FreshSecondary, string Detail) Read(int? announced = null)
        {
            if (Directory.Exists(_config.GetSite(_peer).WorkDirectory))
            {
                var pid = _host.Qemu.RunningPid(_config.PidFileOf(_peer));
                if (pid == null) return (PeerObservation.Silent, false, "no peer QEMU runs on this host");
                if (_host.Processes.IsFrozen(pid.Value)) return (PeerObservation.Silent, false, $"peer QEMU {pid} is stopped (SIGSTOP)");
                // Started after the old VM there died, it holds nothing of the VM until a migration fills it.
                if (pid == announced)
                {
                    var beat = _heartbeat?.Read() ?? (PeerObservation.Unknown, "no heartbeat port configured (Witness.HeartbeatPort)");
                    return (beat.Item1, true, $"peer QEMU {pid} is the fresh secondary announced there; " + beat.Item2);
                }
            }
            var heard = _heartbeat?.Read() ?? (PeerObservation.Unknown, "no heartbeat port configured (Witness.HeartbeatPort)");
            // On another host: the peer's guard says a secondary runs there, and the witness announces a fresh one.
            if (announced != null && heard.Item1 == PeerObservation.Answers && _heartbeat!.PeerOwn == nameof(OwnObservation.ProtectedSecondary))
                return (heard.Item1, true, "the peer runs the fresh secondary announced there; " + heard.Item2);
            return (heard.Item1, false, heard.Item2);
        }
    }
}
