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
            ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.None);
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
            return await NodeOfAsync(config, site, pid, session, QemuBinary.ResolveAccelerator(config.Qemu.Accelerator), ct).ConfigureAwait(false);
        }

        /// <summary>
        /// A node for a site's QEMU on another host, through its remote QMP monitor
        /// (SiteX.Management) with the operator's certificate. Its pid is not known here (0).
        /// </summary>
        public async Task<ColoNode> RunRemoteAsync(ColoConfig config, ColoSite site, QmpTlsOptions tls, TimeSpan timeout, CancellationToken ct)
        {
            ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.None);
            var endpoint = RemoteEndpoint(config, site, tls);
            var session = _host.Qmp.Find(endpoint);
            if (session == null)
            {
                session = await _host.Qmp.ConnectAsync(endpoint, new QmpSessionOptions { Name = config.Name + "-" + site, ConnectTimeout = timeout }, ct).ConfigureAwait(false);
                _host.Qmp.Register(session);
            }
            // The QEMU says itself which accelerator it runs; this host's /dev/kvm says nothing about it.
            var kvm = await session.ExecuteAsync("query-kvm", null, ct).ConfigureAwait(false);
            var accelerator = kvm.TryGetProperty("enabled", out var on) && on.ValueKind == System.Text.Json.JsonValueKind.True ? ColoAccelerator.Kvm : ColoAccelerator.Tcg;
            return await NodeOfAsync(config, site, 0, session, accelerator, ct).ConfigureAwait(false);
        }

        /// <summary>A site's remote monitor; a configuration without one is refused with a typed error.</summary>
        public static QmpEndpoint RemoteEndpoint(ColoConfig config, ColoSite site, QmpTlsOptions tls)
        {
            var m = config.GetSite(site).Management
                ?? throw new ColoException("ColoNodeNoRemoteMonitor", ColoErrorKind.InvalidConfiguration,
                    $"Site {site} of {config.Name} serves no remote QMP monitor; set Site{site}.Management (address and port) and start its QEMU with it.");
            return QmpEndpoint.TcpTls(m.Address, m.Port, tls);
        }

        private static async Task<ColoNode> NodeOfAsync(ColoConfig config, ColoSite site, int pid, QmpSession session, ColoAccelerator accelerator, CancellationToken ct)
        {
            var role = RoleOf(await QemuSnapshot.ReadAsync(session, null, ct).ConfigureAwait(false));
            var node = new ColoNode(config, site, role, pid, session, session.QemuVersion!, accelerator);
            // What happened before this process attached is not known: count from the attach.
            if (role == ColoRole.Primary) node.CountCheckpointsFromNow();
            return node;
        }
    }
}
