using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Base of every ColoPS cmdlet: Ctrl+C cancellation, async work with Verbose and progress
    /// written from the pipeline thread, and exceptions turned into stable ErrorRecords.
    /// </summary>
    /// <remarks>
    /// PowerShell lets only the pipeline thread write to streams, but QMP work is async. <see cref="Run{T}"/>
    /// starts the work on the thread pool and pumps the messages it queues (Verbose for each QMP
    /// command, progress) on the pipeline thread until the work ends.
    /// </remarks>
    public abstract class ColoCmdlet : PSCmdlet, IDisposable
    {
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private BlockingCollection<Action>? _pump;

        /// <summary>Cancelled when the user presses Ctrl+C or the pipeline stops.</summary>
        protected CancellationToken StopToken => _stop.Token;

        protected override void StopProcessing() => _stop.Cancel();

        public void Dispose()
        {
            _stop.Dispose();
            GC.SuppressFinalize(this);
        }

        /// <summary>Runs async work, relaying its Verbose/Debug/progress messages, and returns its result.</summary>
        protected T Run<T>(Func<CancellationToken, Task<T>> work)
        {
            var pump = new BlockingCollection<Action>();
            var previous = _pump;
            _pump = pump;
            Task<T> task;
            var observer = new VerboseObserver(this);
            try
            {
                task = Task.Run(async () =>
                {
                    using (QmpCommandObserver.Use(observer))
                    {
                        return await work(_stop.Token).ConfigureAwait(false);
                    }
                });
                task.ContinueWith(_ => pump.CompleteAdding(), TaskScheduler.Default);
                foreach (var action in pump.GetConsumingEnumerable())
                {
                    action();
                }
            }
            finally
            {
                _pump = previous;
            }

            try
            {
                return task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
            catch (Exception ex) when (ex is System.IO.IOException || ex is UnauthorizedAccessException)
            {
                // A work directory or disk the process cannot write: a typed error like any other,
                // not a raw exception that ends the pipeline.
                throw new ColoException("ColoFileAccessFailed", ColoErrorKind.ResourceUnavailable, ex.Message, ex);
            }
        }

        protected void Run(Func<CancellationToken, Task> work) => Run(async ct => { await work(ct).ConfigureAwait(false); return true; });

        /// <summary>Writes Verbose from any thread: relayed when called inside <see cref="Run{T}"/>.</summary>
        protected void Post(Action action)
        {
            var pump = _pump;
            if (pump == null) { action(); return; }
            try { pump.Add(action); } catch (InvalidOperationException) { /* work already finished */ }
        }

        protected void PostVerbose(string text) => Post(() => WriteVerbose(text));
        protected void PostDebug(string text) => Post(() => WriteDebug(text));
        protected void PostProgress(ProgressRecord record) => Post(() => WriteProgress(record));

        protected static string Format(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

        /// <summary>Turns any exception from the core into an ErrorRecord with a stable id and a real category.</summary>
        protected ErrorRecord ToErrorRecord(Exception exception, object? target) => ErrorMapping.ToErrorRecord(exception, target);

        protected void WriteMappedError(Exception exception, object? target) => WriteError(ToErrorRecord(exception, target));

        protected void ThrowMapped(Exception exception, object? target) => ThrowTerminatingError(ToErrorRecord(exception, target));

        protected void ThrowError(string id, ErrorCategory category, string message, object? target)
            => ThrowTerminatingError(new ErrorRecord(new ColoPSException(message), id, category, target));

        protected void WriteError(string id, ErrorCategory category, string message, object? target)
            => WriteError(new ErrorRecord(new ColoPSException(message), id, category, target));

        private sealed class VerboseObserver : IQmpCommandObserver
        {
            private readonly ColoCmdlet _owner;
            public VerboseObserver(ColoCmdlet owner) => _owner = owner;

            public void OnSend(QmpSession session, string command, string json)
                => _owner.PostVerbose(Format("QMP {0} --> {1}", session.Name, json));

            public void OnReceive(QmpSession session, string command, string json)
                => _owner.PostDebug(Format("QMP {0} <-- {1}", session.Name, json.Length > 2000 ? json.Substring(0, 2000) + "..." : json));
        }
    }
}
