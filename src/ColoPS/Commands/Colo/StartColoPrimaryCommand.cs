using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Starts the primary of a pair (procedure steps 1 and 4) and returns once both sides are in
    /// COLO. A migration that ends without COLO is a failed start and leaves no second copy running.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Start, "ColoPrimary", SupportsShouldProcess = true)]
    [OutputType(typeof(ColoNode))]
    public sealed class StartColoPrimaryCommand : ColoOperationCmdlet
    {
        public StartColoPrimaryCommand() : base(ProgressActivity.StartPrimary) { }

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>The site (A or B) where the primary runs.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ColoSite Site { get; set; }

        /// <summary>The secondary node from Start-ColoSecondary; found by its socket when omitted.</summary>
        [Parameter]
        public ColoNode? Secondary { get; set; }

        /// <summary>A QMP session to a primary QEMU you started yourself with the primary command line; no QEMU is started then.</summary>
        [Parameter]
        public QmpSession? Session { get; set; }

        /// <summary>Start even on a QEMU version known to fail as COLO primary. The failed start is still detected.</summary>
        [Parameter]
        public SwitchParameter SkipVersionCheck { get; set; }

        protected override void ProcessRecord()
        {
            var target = Format("{0}-{1} ({2})", Config.Name, Site, Config.GetSite(Site).Address);
            if (!ShouldProcess(target, "Start COLO primary and protect the VM")) return;
            try
            {
                var options = new ColoStartOptions { Timeouts = Timeouts, SkipVersionCheck = SkipVersionCheck };
                var node = Run(ct => ColoOperations.StartPrimaryAsync(Config, Site, Secondary, Session, options, OnProgress, ct));
                WriteCheckpointWarning(node);
                WriteObject(node);
            }
            catch (System.Exception ex) when (ex is ColoException || ex is QmpException)
            {
                WriteRollbackWarnings(ex);
                WriteMappedError(ex, target);
            }
        }
    }
}
