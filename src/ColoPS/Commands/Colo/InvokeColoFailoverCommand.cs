using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Colo.Operations;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Fails over to the surviving node: "Secondary Failover" when it is the secondary, "Primary
    /// Failover" when it is the primary. Refuses while the peer still answers, unless -Force.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Invoke, "ColoFailover", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(ColoStatus))]
    public sealed class InvokeColoFailoverCommand : ColoOperationCmdlet
    {
        public InvokeColoFailoverCommand() : base(ProgressActivity.Failover) { TimeoutSec = 60; }

        /// <summary>The survivor: the node that takes over (or keeps running alone).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoNode Node { get; set; } = null!;

        /// <summary>Fail over even though the peer still answers QMP (you have fenced it some other way).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            FailoverPlan plan;
            try
            {
                plan = Run(ct => ColoOperations.PlanFailoverAsync(Node, Timeouts, ct));
                WriteVerbose(Format("Peer of {0}: {1}.", Node.Name, plan.PeerState));
                // The core refuses too; asked here, the refusal comes before any confirmation prompt.
                // -WhatIf still shows the plan.
                if (!WhatIfRequested) FailoverDecision.ThrowIfPeerAlive(Node, plan, Force);
            }
            catch (System.Exception ex) when (ex is ColoException || ex is QmpException)
            {
                WriteMappedError(ex, Node);
                return;
            }

            string text = plan.Plan.ToText();
            if (!ShouldProcess(text, Format("Fail over to {0}? This runs:{1}{2}", Node.Name, System.Environment.NewLine, text), "Invoke-ColoFailover")) return;
            try
            {
                Run(ct => ColoOperations.FailoverAsync(Node, plan, Force, Timeouts, OnProgress, ct));
                WriteObject(Run(ct => ColoOperations.GetStatusAsync(Node, ct)));
            }
            catch (System.Exception ex) when (ex is ColoException || ex is QmpException)
            {
                WriteMappedError(ex, Node);
            }
        }

        private bool WhatIfRequested => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && w is SwitchParameter s && s.IsPresent;
    }
}
