using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Lists the events a session has kept, oldest first.</summary>
    [Cmdlet(VerbsCommon.Get, "QmpEvent", DefaultParameterSetName = PositionalSet)]
    [OutputType(typeof(QmpEvent))]
    public sealed class GetQmpEventCommand : QmpEventCmdlet
    {
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
            var match = NameFilter(Name);
            foreach (var evt in Session.GetEvents(AfterSequence))
            {
                if (match(evt)) WriteObject(PSQmpEvent.Wrap(evt));
            }
        }
    }
}
