using System;
using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Shared by Get-QmpEvent and Wait-QmpEvent: the session parameter sets and name matching.</summary>
    public abstract class QmpEventCmdlet : ColoCmdlet
    {
        protected const string PositionalSet = "Positional";
        // With the session from the pipeline the name moves to position 0: `$s | Wait-QmpEvent STOP`.
        protected const string PipelineSet = "Pipeline";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PositionalSet)]
        [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PipelineSet)]
        [ValidateNotNull]
        public QmpSession Session { get; set; } = null!;

        /// <summary>A test for event names against wildcard patterns; everything matches when there are none.</summary>
        protected static Func<QmpEvent, bool> NameFilter(string[]? names)
        {
            if (names == null) return _ => true;
            var patterns = Array.ConvertAll(names, n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase));
            return e => Array.Exists(patterns, p => p.IsMatch(e.Name));
        }
    }
}
