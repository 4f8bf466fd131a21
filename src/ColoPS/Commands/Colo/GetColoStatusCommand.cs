using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Reads each side's COLO state. A dead side is reported as Down, never as an error.</summary>
    [Cmdlet(VerbsCommon.Get, "ColoStatus", DefaultParameterSetName = NodeSet)]
    [OutputType(typeof(ColoStatus))]
    public sealed class GetColoStatusCommand : ColoCmdlet
    {
        private const string NodeSet = "Node";
        private const string SessionSet = "Session";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = NodeSet)]
        [ValidateNotNull]
        public ColoNode[] Node { get; set; } = null!;

        /// <summary>Sessions to QEMUs that ColoPS did not start.</summary>
        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = SessionSet)]
        [ValidateNotNull]
        public QmpSession[] Session { get; set; } = null!;

        /// <summary>Limit of each query to a side, in seconds; a side that does not answer in it reads Down.</summary>
        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 5;

        protected override void ProcessRecord()
        {
            var limit = System.TimeSpan.FromSeconds(TimeoutSec);
            if (ParameterSetName == NodeSet)
            {
                foreach (var n in Node) WriteObject(Run(ct => WithLinksAsync(ColoOperations.GetStatusAsync(n, ct, limit), n.Session, limit, ct)));
            }
            else
            {
                foreach (var s in Session) WriteObject(Run(ct => WithLinksAsync(ColoOperations.GetStatusAsync(s, null, 0, ct, limit), s, limit, ct)));
            }
        }

        // Stopgap until ColoOperations.GetStatusAsync reads the links itself (it is being split up):
        // a side that answers gets its links, a side that is Down keeps none.
        private static async System.Threading.Tasks.Task<ColoStatus> WithLinksAsync(System.Threading.Tasks.Task<ColoStatus> read, ColoPS.Qmp.QmpSession session, System.TimeSpan limit, System.Threading.CancellationToken ct)
        {
            var status = await read.ConfigureAwait(false);
            if (!status.Alive || status.Links.Count > 0) return status;
            try { status.Links = await ColoLinkReader.ReadAsync(session, status.Mode, new ColoPS.Qmp.QmpCallOptions { Timeout = limit }, ct).ConfigureAwait(false); }
            catch (ColoPS.Qmp.QmpException) { }
            return status;
        }
    }
}
