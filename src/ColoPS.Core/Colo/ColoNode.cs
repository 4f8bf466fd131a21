using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoPS.Colo
{
    /// <summary>The role a node plays now. Roles change with failover and resume; sites do not.</summary>
    public enum ColoRole
    {
        /// <summary>Receives checkpoints; takes over when the primary dies.</summary>
        Secondary,
        /// <summary>Runs the VM and sends checkpoints.</summary>
        Primary,
        /// <summary>Runs the VM alone after a failover; Resume-ColoReplication protects it again.</summary>
        Standalone,
        /// <summary>Its QEMU was stopped.</summary>
        Stopped,
    }

    /// <summary>One QEMU of a COLO pair: where it runs, its process, its QMP session and its role.</summary>
    public sealed class ColoNode
    {
        internal ColoNode(ColoConfig config, ColoSite site, ColoRole role, int processId, QmpSession session, QemuVersion version, ColoAccelerator accelerator)
        {
            Config = config;
            Site = site;
            Role = role;
            ProcessId = processId;
            Session = session;
            QemuVersion = version;
            Accelerator = accelerator;
            StartedAt = DateTimeOffset.Now;
            FeedCheckpointCounter();
        }

        /// <summary>&lt;config name&gt;-&lt;site&gt;, e.g. demo-A.</summary>
        public string Name => Config.Name + "-" + Site;
        public ColoSite Site { get; }
        public ColoRole Role { get; internal set; }
        public int ProcessId { get; }
        public QmpSession Session { get; }
        public ColoConfig Config { get; }
        public string Address => Config.GetSite(Site).Address;
        public QemuVersion QemuVersion { get; }
        public ColoAccelerator Accelerator { get; }
        public DateTimeOffset StartedAt { get; }
        /// <summary>QEMU's log at this site (its error messages and any -trace output); it stays after the node is stopped.</summary>
        public string LogPath => Config.QemuLogOf(Site);

        /// <summary>Sequence of the last event before this node last became protected; COLO_EXIT after it means the pair broke.</summary>
        public long ProtectedSinceSequence { get; internal set; }


        /// <summary>This node's checkpoints while it is the primary, fed live from its session's STOP and RESUME events.</summary>
        internal ColoCheckpointCounter Checkpoints { get; } = new ColoCheckpointCounter();

        /// <summary>COLO (re)started on this node as the primary: its checkpoints count from here.</summary>
        internal void CountCheckpointsFromNow() => Checkpoints.Restart(Session.LastEventSequence, DateTimeOffset.Now);

        private void FeedCheckpointCounter()
        {
            // The subscription ends with the session (the event log completes its readers then).
            var reader = Session.SubscribeEvents(e => e.Name == "STOP" || e.Name == "RESUME", 256, out _);
            _ = Task.Run(async () =>
            {
                try
                {
                    await foreach (var e in reader.ReadAllAsync().ConfigureAwait(false)) Checkpoints.Observe(e);
                }
                catch (Exception) { /* the session ended; the counts read so far stay */ }
            });
        }

        /// <summary>True when the QEMU process exists (it may be frozen); false for a remote node, whose process this host cannot see.</summary>
        public bool IsProcessAlive => !IsRemote && ProcessProbe.IsAlive(ProcessId);

        /// <summary>
        /// Reached over a site's remote QMP monitor (Connect-ColoNode -Remote): its QEMU runs on
        /// another host, so its process, pid file and work folder are not this host's to touch.
        /// </summary>
        public bool IsRemote => Session.Endpoint.Transport == QmpTransport.Tcp;

        public override string ToString() => $"{Name} ({Role}, pid {ProcessId})";
    }
}
