using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Lists the events a session has kept, oldest first.</summary>
    [Cmdlet(VerbsCommon.Get, "QmpEvent", DefaultParameterSetName = PositionalSet)]
    [OutputType(typeof(QmpEvent))]
    public sealed class GetQmpEventCommand : ColoCmdlet
    {
        private const string PositionalSet = "Positional";
        // With the session from the pipeline the name moves to position 0: `$s | Get-QmpEvent STOP`.
        private const string PipelineSet = "Pipeline";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PositionalSet)]
        [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PipelineSet)]
        [ValidateNotNull]
        public QmpSession Session { get; set; } = null!;

        /// <summary>Event names to keep; wildcards allowed.</summary>
        [Parameter(Position = 1, ParameterSetName = PositionalSet)]
        [Parameter(Position = 0, ParameterSetName = PipelineSet)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(QmpEventNameCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Name { get; set; }

        /// <summary>Only events with a higher sequence number.</summary>
        [Parameter]
        [ValidateRange(0, long.MaxValue)]
        public long AfterSequence { get; set; }

        protected override void ProcessRecord()
        {
            var patterns = Name == null ? null : System.Array.ConvertAll(Name, n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase));
            foreach (var evt in Session.GetEvents(AfterSequence))
            {
                if (patterns != null && !System.Array.Exists(patterns, p => p.IsMatch(evt.Name))) continue;
                WriteObject(PSQmpEvent.Wrap(evt));
            }
        }
    }
}
