using System.IO;
using ColoPS.Colo;
using ColoPS.Colo.Host;

namespace ColoPS.Guard
{
    /// <summary>
    /// Whether the peer's QEMU lives, as this host can see it. When both sites' folders are on this
    /// host (a pair on one machine, the tests) its pid file says so at no cost. On two hosts the
    /// answer is Unknown: the model then relies on the witness (the peer's guard stops its VM
    /// before its lease can expire) and on the fencing hook.
    /// </summary>
    public sealed class PeerWatch
    {
        private readonly ColoHost _host;
        private readonly ColoConfig _config;
        private readonly ColoSite _peer;

        public PeerWatch(ColoHost host, ColoConfig config, ColoSite site)
        {
            _host = host;
            _config = config;
            _peer = ColoConfig.Other(site);
        }

        /// <param name="freshSecondary">The peer's QEMU the witness announces as a fresh secondary (ready key), if any.</param>
        public (PeerObservation Peer, string Detail) Read(int? freshSecondary = null)
        {
            if (!Directory.Exists(_config.GetSite(_peer).WorkDirectory)) return (PeerObservation.Unknown, "the peer's folder is not on this host");
            var pid = _host.Qemu.RunningPid(_config.PidFileOf(_peer));
            if (pid == null) return (PeerObservation.Silent, "no peer QEMU runs");
            if (_host.Processes.IsFrozen(pid.Value)) return (PeerObservation.Silent, $"peer QEMU {pid} is stopped (SIGSTOP)");
            // Started after the old VM there died, it holds nothing of the VM until a migration fills it.
            if (pid == freshSecondary) return (PeerObservation.Silent, $"peer QEMU {pid} is the fresh secondary announced there, not the old VM");
            return (PeerObservation.Answers, $"peer QEMU {pid} runs");
        }
    }
}
