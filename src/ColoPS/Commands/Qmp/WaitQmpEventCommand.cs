using System;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Waits for the first event with one of the given names and writes it.
    /// </summary>
    /// <remarks>
    /// Without -AfterSequence the wait starts where this runspace's cursor on the session is: after
    /// the last Invoke-QmpCommand (or the Connect-QmpSession) of this runspace on it, skipping events
    /// earlier waits returned. So `Invoke-QmpCommand stop; Wait-QmpEvent STOP` finds the STOP that
    /// QEMU sent before the reply. -AfterSequence sets the start exactly instead.
    /// </remarks>
    [Cmdlet(VerbsLifecycle.Wait, "QmpEvent", DefaultParameterSetName = PositionalSet)]
    [OutputType(typeof(QmpEvent))]
    public sealed class WaitQmpEventCommand : QmpEventCmdlet
    {
        /// <summary>Event names to wait for; wildcards allowed.</summary>
        [Parameter(Mandatory = true, Position = 1, ParameterSetName = PositionalSet)]
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = PipelineSet)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(QmpEventNameCompleter))]
        [ValidateNotNullOrEmpty]
        public string[] Name { get; set; } = Array.Empty<string>();

        /// <summary>Accept only events numbered above this; default: the events since this runspace's last command on the session that no earlier wait returned.</summary>
        [Parameter]
        [ValidateRange(0, long.MaxValue)]
        public long AfterSequence { get; set; } = -1;

        [Parameter]
        [ValidateRange(1, 86400)]
        public int TimeoutSec { get; set; } = 30;

        protected override void ProcessRecord()
        {
            var cursor = QmpEventCursors.For(Session);
            var match = NameFilter(Name);
            long after = AfterSequence;
            if (after < 0)
            {
                after = cursor.Mark;
                match = cursor.Untaken(match);
            }
            var timeout = TimeSpan.FromSeconds(TimeoutSec);
            string names = string.Join(", ", Name);
            try
            {
                var evt = Run(async ct =>
                {
                    var wait = Session.WaitForEventAsync(match, after, timeout, ct);
                    string status = Format("{0} on {1}", names, Session.Name);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    while (!wait.IsCompleted)
                    {
                        await Task.WhenAny(wait, Task.Delay(500, ct)).ConfigureAwait(false);
                        ct.ThrowIfCancellationRequested();
                        PostProgress(new ProgressRecord(ProgressActivity.WaitQmpEvent, "Waiting for QMP event", status)
                        {
                            PercentComplete = (int)Math.Min(99, clock.Elapsed.TotalSeconds * 100 / timeout.TotalSeconds),
                            SecondsRemaining = (int)Math.Max(0, (timeout - clock.Elapsed).TotalSeconds),
                        });
                    }
                    PostProgress(new ProgressRecord(ProgressActivity.WaitQmpEvent, "Waiting for QMP event", status) { RecordType = ProgressRecordType.Completed });
                    return await wait.ConfigureAwait(false);
                });
                cursor.Take(evt);
                WriteObject(PSQmpEvent.Wrap(evt));
            }
            catch (QmpTimeoutException ex)
            {
                WriteError(new ErrorRecord(new QmpTimeoutException(Format("Waiting for {0} on {1}", names, Session.Name), ex.Timeout),
                    "QmpEventWaitTimeout", ErrorCategory.OperationTimeout, Session));
            }
            catch (QmpException ex)
            {
                WriteMappedError(ex, Session);
            }
        }
    }
}
