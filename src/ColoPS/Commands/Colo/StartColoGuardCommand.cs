using System;
using System.Management.Automation;
using System.Runtime.InteropServices;
using ColoPS.Colo;
using ColoPS.Guard;
using ColoPS.Witness;

namespace ColoPS.Commands
{
    /// <summary>Runs one site's guard in the foreground until Ctrl+C (or SIGTERM); writes each decision.</summary>
    [Cmdlet(VerbsLifecycle.Start, "ColoGuard", SupportsShouldProcess = true, DefaultParameterSetName = "Config")]
    [OutputType(typeof(GuardRecord))]
    public sealed class StartColoGuardCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Config")]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>A configuration file (Export-ColoConfig), as a systemd unit passes it.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Path")]
        [ValidateNotNullOrEmpty]
        public string ConfigPath { get; set; } = string.Empty;

        [Parameter(Mandatory = true, Position = 1)]
        public ColoSite Site { get; set; }

        /// <summary>A JSON-lines file each decision is appended to.</summary>
        [Parameter]
        public string? LogPath { get; set; }

        protected override void ProcessRecord()
        {
            var config = Config;
            try
            {
                if (ParameterSetName == "Path") config = ColoConfigJson.Load(SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath));
                string? log = LogPath == null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(LogPath);
                if (!ShouldProcess(Format("{0}-{1}", config.Name, Site), "Guard the VM (may fail over, stop or kill its QEMU)")) return;
                var guard = new ColoGuard(config, Site, log, r => Post(() => Emit(r)));
                // systemd stops the guard with SIGTERM: the same clean stop as Ctrl+C, not an abrupt exit.
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; StopProcessing(); });
                Run(async ct =>
                {
                    try { await guard.RunAsync(ct).ConfigureAwait(false); }
                    finally { await guard.DisposeAsync().ConfigureAwait(false); }
                });
            }
            catch (Exception ex) when (ex is ColoException || ex is WitnessException)
            {
                ThrowMapped(ex, Format("{0}-{1}", config?.Name, Site));
            }
        }

        private void Emit(GuardRecord r)
        {
            try
            {
                if (r.Warning) WriteWarning(r.ToString());
                WriteObject(r);
            }
            catch (PipelineStoppedException) { /* the decision is in the log and the state file */ }
        }
    }

    /// <summary>Reads the state a running (or stopped) guard leaves next to its site's QMP socket.</summary>
    [Cmdlet(VerbsCommon.Get, "ColoGuardStatus")]
    [OutputType(typeof(GuardStatus))]
    public sealed class GetColoGuardStatusCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>Both sites when omitted.</summary>
        [Parameter(Position = 1)]
        public ColoSite[] Site { get; set; } = { ColoSite.A, ColoSite.B };

        protected override void ProcessRecord()
        {
            foreach (var s in Site) WriteObject(GuardStatus.Read(Config, s));
        }
    }

    /// <summary>Writes the systemd unit text that runs one site's guard.</summary>
    [Cmdlet(VerbsCommon.Get, "ColoGuardUnit")]
    [OutputType(typeof(string))]
    public sealed class GetColoGuardUnitCommand : ColoCmdlet
    {
        /// <summary>The configuration file as the guard's host will read it.</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string ConfigPath { get; set; } = string.Empty;

        [Parameter(Mandatory = true, Position = 1)]
        public ColoSite Site { get; set; }

        [Parameter]
        public string PwshPath { get; set; } = "/usr/bin/pwsh";

        protected override void ProcessRecord()
        {
            try
            {
                var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(ConfigPath);
                var pair = System.IO.Path.GetFileName(path).Split('.')[0];
                WriteObject(GuardUnit.Render(path, Site, pair, PwshPath));
            }
            catch (ColoException ex) { ThrowMapped(ex, ConfigPath); }
        }
    }
}
