using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Lists the events a session has kept, oldest first.</summary>
    [Cmdlet(VerbsCommon.Get, "QmpEvent")]
    [OutputType(typeof(QmpEvent))]
    public sealed class GetQmpEventCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNull]
        public QmpSession Session { get; set; } = null!;

        /// <summary>Event names to keep; wildcards allowed.</summary>
        [Parameter(Position = 1)]
        [SupportsWildcards]
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
