using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Protects a survivor again: full disk sync to a new secondary, then replication, filters and
    /// COLO. The survivor becomes the primary.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Resume, "ColoReplication", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(ColoStatus))]
    public sealed class ResumeColoReplicationCommand : ColoOperationCmdlet
    {
        public ResumeColoReplicationCommand() : base(ProgressActivity.Resume) { }

        /// <summary>The node running alone after a failover.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoNode Node { get; set; } = null!;

        /// <summary>
        /// The new secondary from Start-ColoSecondary at the other site. Omit it when that site is
        /// another host: the secondary started there is reached by its address and ports.
        /// </summary>
        [Parameter(Position = 1)]
        public ColoNode? Secondary { get; set; }

        protected override void ProcessRecord()
        {
            ColoPlan plan;
            try
            {
                plan = Run(ct => ColoOperations.PlanResumeAsync(Node, Secondary, ct));
            }
            catch (System.Exception ex) when (ex is ColoException || ex is QmpException)
            {
                WriteMappedError(ex, Node);
                return;
            }

            string text = plan.ToText();
            if (!ShouldProcess(text, Format("Resume replication from {0} to {1}? This runs:{2}{3}", Node.Name, Secondary?.Name ?? "the secondary at site " + ColoConfig.Other(Node.Site), System.Environment.NewLine, text), "Resume-ColoReplication")) return;
            try
            {
                Run(ct => ColoOperations.ResumeAsync(Node, Secondary, plan, Timeouts, OnProgress, ct));
                WriteCheckpointWarning(Node);
                WriteObject(Run(ct => ColoOperations.GetStatusAsync(Node, ct)));
            }
            catch (System.Exception ex) when (ex is ColoException || ex is QmpException)
            {
                // The roll-back's own leftovers come first, so the error is the last word.
                WriteRollbackWarnings(ex);
                WriteMappedError(ex, Node);
            }
        }
    }
}
