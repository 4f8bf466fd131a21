using System;
using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Lists the registered QMP sessions.</summary>
    [Cmdlet(VerbsCommon.Get, "QmpSession", DefaultParameterSetName = NameSet)]
    [OutputType(typeof(QmpSession))]
    public sealed class GetQmpSessionCommand : QmpSessionCmdlet
    {
        [Parameter(Position = 0, ParameterSetName = NameSet, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(QmpSessionNameCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Name { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
        public int[]? Id { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = InstanceIdSet, ValueFromPipelineByPropertyName = true)]
        public Guid[]? InstanceId { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var session in FindSessions(Id, Name, InstanceId)) WriteObject(session);
        }
    }
}
