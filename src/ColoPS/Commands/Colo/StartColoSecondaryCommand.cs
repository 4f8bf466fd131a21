using System.Management.Automation;
using ColoPS.Colo;

namespace ColoPS.Commands
{
    /// <summary>Starts the secondary QEMU of a pair at a site (procedure steps 2 and 3) and writes its node.</summary>
    [Cmdlet(VerbsLifecycle.Start, "ColoSecondary", SupportsShouldProcess = true)]
    [OutputType(typeof(ColoNode))]
    public sealed class StartColoSecondaryCommand : ColoOperationCmdlet
    {
        public StartColoSecondaryCommand() : base(ProgressActivity.StartSecondary) { TimeoutSec = 60; }

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>The site (A or B) where the secondary runs.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        public ColoSite Site { get; set; }

        protected override void ProcessRecord()
        {
            var target = Format("{0}-{1} ({2})", Config.Name, Site, Config.GetSite(Site).Address);
            if (!ShouldProcess(target, "Start COLO secondary QEMU")) return;
            try
            {
                var node = Run(ct => ColoOperations.StartSecondaryAsync(Config, Site, new ColoStartOptions { Timeouts = Timeouts }, OnProgress, ct));
                WriteObject(node);
            }
            catch (System.Exception ex) when (ex is ColoException || ex is Qmp.QmpException)
            {
                WriteMappedError(ex, target);
            }
        }
    }
}
