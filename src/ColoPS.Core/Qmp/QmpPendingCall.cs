using System;
using System.Diagnostics;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>
    /// One command in flight: the task its caller holds, completed by the reader straight from the
    /// reply, and the timer and cancellation that can end it first.
    /// </summary>
    /// <remarks>
    /// The caller gets this task itself, not a task that awaits it: a blocked caller is woken by the
    /// reader directly, an awaiting one after a single hop to the thread pool (continuations run
    /// asynchronously, so caller code never runs on the reader).
    /// </remarks>
    internal sealed class QmpPendingCall : TaskCompletionSource<JsonElement>
    {
        private const int NotWritten = 0, Writing = 1, Written = 2, WriteAborted = 3;
        private static long s_order;

        private readonly long _started;
        private SemaphoreSlim? _slot;
        private int _abandoned;
        private int _writeState;
        private string? _sentJson;
        private Timer? _timer;
        private CancellationTokenRegistration _cancellation;
        private Timer? _writeGrace;
        private static readonly TimeSpan WriteGrace = TimeSpan.FromMilliseconds(250);
        private QmpSession? _session;

        public QmpPendingCall(long id, string command, byte[] wire, IQmpCommandObserver? observer, TimeSpan timeout)
            : base(TaskCreationOptions.RunContinuationsAsynchronously)
        {
            Id = id;
            Command = command;
            Wire = wire;
            Observer = observer;
            Timeout = timeout;
            _started = Stopwatch.GetTimestamp();
            Order = Interlocked.Increment(ref s_order);
        }

        public long Id { get; }
        public string Command { get; }
        public byte[] Wire { get; }
        public IQmpCommandObserver? Observer { get; }
        public TimeSpan Timeout { get; }
        public long Order { get; }
        public bool IsAbandoned => Volatile.Read(ref _abandoned) != 0;

        /// <summary>The command as sent, secrets masked; built only when a log, an observer or an error needs it.</summary>
        public string SentJson => _sentJson ??= QmpCommandWriter.ForLog(Wire);

        public TimeSpan Remaining => Timeout - Stopwatch.GetElapsedTime(_started);

        public void TakeSlot(SemaphoreSlim? slot) => _slot = slot;

        // A timed-out in-band command keeps its slot until QEMU answers: QEMU still has it queued.
        public void ReleaseSlot() => Interlocked.Exchange(ref _slot, null)?.Release();

        /// <summary>Starts the timeout and watches the token; from now on either can end the call.</summary>
        public void Arm(QmpSession session, CancellationToken cancellationToken)
        {
            _session = session;
            var due = Remaining;
            _timer = new Timer(static s => ((QmpPendingCall)s!).OnTimeout(), this, due > TimeSpan.Zero ? due : TimeSpan.Zero, System.Threading.Timeout.InfiniteTimeSpan);
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static (s, token) => ((QmpPendingCall)s!).OnCancel(token), this);
            }
        }

        /// <summary>False when the timer or the token ended the call before its write began: then nothing may be written.</summary>
        public bool BeginWrite() => Interlocked.CompareExchange(ref _writeState, Writing, NotWritten) == NotWritten;

        /// <summary>True when the whole message went out; false when a timeout or cancellation cut the write short.</summary>
        public bool EndWrite() => Interlocked.CompareExchange(ref _writeState, Written, Writing) == Writing;

        /// <summary>Stops the timer and the token watch once the call has its outcome.</summary>
        public void Disarm()
        {
            _timer?.Dispose();
            _cancellation.Unregister();
        }

        private void OnTimeout()
        {
            Interlocked.Exchange(ref _abandoned, 1);
            if (TryAbortWrite())
            {
                // Half a message is in QEMU's parser: the stream cannot be trusted any more.
                _session!.AbortWrite(null);
                return;
            }
            TrySetException(new QmpTimeoutException($"QMP command '{Command}'", Timeout));
            Disarm();
        }

        private void OnCancel(CancellationToken token)
        {
            Interlocked.Exchange(ref _abandoned, 1);
            // Cancelled first, so this caller sees its cancellation and not the fault it causes.
            TrySetCanceled(token);
            // A write under way is almost always done a moment later (a command fits in the
            // socket's buffer; its thread may just not have run since the last byte went out).
            // Tearing the session down for that would break it for nothing: only a write still
            // under way after a grace period has half a message stuck in QEMU's parser.
            if (Interlocked.CompareExchange(ref _writeState, WriteAborted, NotWritten) == Writing)
                _writeGrace = new Timer(static s => ((QmpPendingCall)s!).AbortIfStillWriting(), this, WriteGrace, System.Threading.Timeout.InfiniteTimeSpan);
            Disarm();
        }

        private void AbortIfStillWriting()
        {
            _writeGrace?.Dispose();
            if (Interlocked.CompareExchange(ref _writeState, WriteAborted, Writing) == Writing) _session!.AbortWrite(null);
        }

        // Also stops a write that has not begun; only one that is under way needs the session torn down.
        private bool TryAbortWrite() => Interlocked.Exchange(ref _writeState, WriteAborted) == Writing;
    }
}
