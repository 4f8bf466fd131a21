using System;
using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Attaches to a COLO QEMU that already runs at a site, so that a runbook or scheduled task in
    /// a new pwsh process can read its status, fail over or resume.
    /// </summary>
    [Cmdlet(VerbsCommunications.Connect, "ColoNode")]
    [OutputType(typeof(ColoNode))]
    public sealed class ConnectColoNodeCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>The sites to attach to; both when omitted (a site without a running QEMU is an error).</summary>
        [Parameter(Position = 1)]
        public ColoSite[] Site { get; set; } = { ColoSite.A, ColoSite.B };

        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 10;

        protected override void ProcessRecord()
        {
            foreach (var site in Site)
            {
                try
                {
                    WriteObject(Run(ct => ColoOperations.AttachAsync(Config, site, TimeSpan.FromSeconds(TimeoutSec), ct)));
                }
                catch (Exception ex) when (ex is ColoException || ex is QmpException)
                {
                    WriteMappedError(ex, Format("{0}-{1}", Config.Name, site));
                }
            }
        }
    }
}
