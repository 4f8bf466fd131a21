using System;
using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Closes QMP sessions and removes them from the registry. A dead session is removed without complaint.</summary>
    [Cmdlet(VerbsCommunications.Disconnect, "QmpSession", DefaultParameterSetName = SessionSet, SupportsShouldProcess = true)]
    [OutputType(typeof(QmpSession))]
    public sealed class DisconnectQmpSessionCommand : QmpSessionCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = SessionSet, ValueFromPipeline = true)]
        [ValidateNotNull]
        public QmpSession[]? Session { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
        public int[]? Id { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = NameSet, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(QmpSessionNameCompleter))]
        public string[]? Name { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = InstanceIdSet, ValueFromPipelineByPropertyName = true)]
        public Guid[]? InstanceId { get; set; }

        /// <summary>Write each closed session.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            var targets = ParameterSetName == SessionSet ? Session! : System.Linq.Enumerable.ToArray(FindSessions(Id, Name, InstanceId));
            foreach (var session in targets)
            {
                if (!ShouldProcess(Format("{0} ({1})", session.Name, session.Endpoint), "Disconnect QMP session")) continue;
                session.Dispose();
                QmpSessionRegistry.Remove(session);
                if (PassThru) WriteObject(session);
            }
        }
    }
}
