using System;
using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Shuts a node's QEMU down and removes the sockets and overlays it created; the parent disk stays.</summary>
    [Cmdlet(VerbsLifecycle.Stop, "ColoNode", SupportsShouldProcess = true)]
    [OutputType(typeof(ColoNode))]
    public sealed class StopColoNodeCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoNode[] Node { get; set; } = null!;

        /// <summary>Seconds to wait for QEMU to quit before it is killed.</summary>
        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 15;

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var n in Node)
            {
                // A remote node's pid is not known here; where it is reached is.
                var status = n.IsRemote ? Format("{0} ({1})", n.Name, n.Session.Endpoint) : Format("{0} (pid {1})", n.Name, n.ProcessId);
                if (!ShouldProcess(status, "Stop COLO node QEMU")) continue;
                try
                {
                    WriteProgress(new ProgressRecord(ProgressActivity.StopNode, "Stop COLO node", status) { CurrentOperation = "Waiting for QEMU to quit" });
                    try { Run(ct => ColoOperations.StopAsync(n, TimeSpan.FromSeconds(TimeoutSec), PostVerbose, ct)); }
                    finally { WriteProgress(new ProgressRecord(ProgressActivity.StopNode, "Stop COLO node", status) { RecordType = ProgressRecordType.Completed }); }
                    if (PassThru) WriteObject(n);
                }
                catch (Exception ex) when (ex is ColoException || ex is QmpException)
                {
                    WriteMappedError(ex, n);
                }
            }
        }
    }
}
