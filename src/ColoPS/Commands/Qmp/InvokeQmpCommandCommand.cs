using System;
using System.Collections;
using System.Management.Automation;
using System.Text.Json;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Runs a QMP command (or an HMP command line) and writes what it returns.</summary>
    [Cmdlet(VerbsLifecycle.Invoke, "QmpCommand", DefaultParameterSetName = QmpSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(PSObject), typeof(string), typeof(long), typeof(ulong), typeof(double), typeof(bool))]
    public sealed class InvokeQmpCommandCommand : ColoCmdlet
    {
        private const string QmpSet = "Qmp";
        // The same parameters shifted left when the session comes from the pipeline, so that
        // both `Invoke-QmpCommand $s query-status` and `$s | Invoke-QmpCommand query-status` work.
        private const string QmpPipelineSet = "QmpPipeline";
        private const string HmpSet = "Hmp";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = QmpSet)]
        [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = QmpPipelineSet)]
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = HmpSet)]
        [ValidateNotNull]
        public QmpSession Session { get; set; } = null!;

        /// <summary>The QMP command name, e.g. query-status.</summary>
        [Parameter(Mandatory = true, Position = 1, ParameterSetName = QmpSet)]
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = QmpPipelineSet)]
        [Alias("Execute")]
        [ArgumentCompleter(typeof(QmpCommandNameCompleter))]
        [ValidateNotNullOrEmpty]
        public string Command { get; set; } = string.Empty;

        /// <summary>The command's arguments as a hashtable; nested hashtables and arrays are fine.</summary>
        [Parameter(Position = 2, ParameterSetName = QmpSet)]
        [Parameter(Position = 1, ParameterSetName = QmpPipelineSet)]
        public IDictionary? Arguments { get; set; }

        /// <summary>Send with exec-oob (QEMU must have offered oob; only allow-oob commands).</summary>
        [Parameter(ParameterSetName = QmpSet)]
        [Parameter(ParameterSetName = QmpPipelineSet)]
        public SwitchParameter OutOfBand { get; set; }

        /// <summary>Write a JSON array as one array object instead of item by item (like ConvertFrom-Json -NoEnumerate).</summary>
        [Parameter(ParameterSetName = QmpSet)]
        [Parameter(ParameterSetName = QmpPipelineSet)]
        public SwitchParameter NoEnumerate { get; set; }

        /// <summary>An HMP command line, run through human-monitor-command; its text output is written.</summary>
        [Parameter(Mandatory = true, ParameterSetName = HmpSet)]
        [ValidateNotNullOrEmpty]
        public string Hmp { get; set; } = string.Empty;

        /// <summary>Seconds to wait for the reply; the session's command timeout when omitted.</summary>
        [Parameter]
        [ValidateRange(1, 86400)]
        public int TimeoutSec { get; set; }

        protected override void ProcessRecord()
        {
            string what = ParameterSetName == HmpSet ? "HMP: " + Hmp : Command;
            if (!ShouldProcess(Format("{0} ({1})", Session.Name, Session.Endpoint), "Run QMP command " + what)) return;

            var call = new QmpCallOptions
            {
                OutOfBand = OutOfBand.IsPresent,
                Timeout = TimeoutSec > 0 ? TimeSpan.FromSeconds(TimeoutSec) : (TimeSpan?)null,
            };
            // Read before sending: the event this command causes may come before its reply.
            QmpEventCursors.For(Session).CommandSent(Session.LastEventSequence);
            try
            {
                if (ParameterSetName == HmpSet)
                {
                    WriteObject(WantsTraffic()
                        ? Run(ct => Session.ExecuteHumanAsync(Hmp, call.Timeout, ct))
                        : RunOnPipelineThread(() => Session.ExecuteHuman(Hmp, call.Timeout, StopToken)));
                    return;
                }

                var arguments = PSJson.ToArguments(Arguments);
                JsonElement reply = WantsTraffic()
                    ? Run(ct => Session.ExecuteAsync(Command, arguments, call, ct))
                    : RunOnPipelineThread(() => Session.Execute(Command, arguments, call, StopToken));
                // Like any cmdlet, an array is written item by item unless -NoEnumerate; {} (no data) is written as an empty object.
                WriteObject(PSJson.ToPSValue(reply), enumerateCollection: !NoEnumerate.IsPresent);
            }
            catch (Exception ex) when (ex is QmpException || ex is ArgumentException || ex is InvalidOperationException)
            {
                WriteMappedError(ex, Session);
            }
        }

        // Verbose and Debug show each command and reply, which the reader reports from its own
        // thread: only then is the message pump of Run needed.
        private bool WantsTraffic() => Wants("Verbose", "VerbosePreference") || Wants("Debug", "DebugPreference");

        private bool Wants(string parameter, string preference)
        {
            if (MyInvocation.BoundParameters.ContainsKey(parameter)) return true;
            return !LanguagePrimitives.TryConvertTo(GetVariableValue(preference), out ActionPreference value)
                || (value != ActionPreference.SilentlyContinue && value != ActionPreference.Ignore);
        }

        // A plain command waits on the pipeline thread itself, which reads its own reply: no hop
        // through the reader thread or the thread pool, and no pump. Ctrl+C still ends the wait (StopToken).
        private T RunOnPipelineThread<T>(Func<T> call)
        {
            try
            {
                return call();
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }
    }
}
