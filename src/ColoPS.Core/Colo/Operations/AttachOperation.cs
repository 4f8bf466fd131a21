using System;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu;
using ColoPS.Qemu.States;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// A node for a QEMU that already runs at a site (started by another process, an earlier
    /// runbook, or by hand from ColoPS's command line): its pid from the site's pid file, a session
    /// to its QMP socket, and its role from what QEMU says.
    /// </summary>
    public sealed class AttachOperation
    {
        private readonly ColoHost _host;

        public AttachOperation(ColoHost host) => _host = host;

        /// <summary>The role a running QEMU plays, from its COLO mode and run state.</summary>
        public static ColoRole RoleOf(QemuSnapshot s)
            => s.Mode == ColoMode.Primary ? ColoRole.Primary
             : s.Mode == ColoMode.Secondary || s.RunState == RunState.InMigrate ? ColoRole.Secondary
             : ColoRole.Standalone;

        public async Task<ColoNode> RunAsync(ColoConfig config, ColoSite site, TimeSpan timeout, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config, checkFiles: false);
            int pid = _host.Qemu.RunningPid(config.PidFileOf(site))
                ?? throw new ColoException("ColoNodeNotRunning", ColoErrorKind.ObjectNotFound,
                    $"No QEMU of {config.Name} runs at site {site} (no live process in {config.PidFileOf(site)}).");
            var socket = config.QmpSocketOf(site);
            var session = _host.Qmp.FindUnix(socket);
            if (session == null)
            {
                session = await _host.Qmp.ConnectAsync(QmpEndpoint.Unix(socket), new QmpSessionOptions
                {
                    Name = config.Name + "-" + site,
                    ConnectTimeout = timeout,
                }, ct).ConfigureAwait(false);
                _host.Qmp.Register(session);
            }
            var role = RoleOf(await QemuSnapshot.ReadAsync(session, null, ct).ConfigureAwait(false));
            var node = new ColoNode(config, site, role, pid, session, session.QemuVersion!, QemuBinary.ResolveAccelerator(config.Qemu.Accelerator));
            // What happened before this process attached is not known: count from the attach.
            if (role == ColoRole.Primary) node.CountCheckpointsFromNow();
            return node;
        }
    }
}
