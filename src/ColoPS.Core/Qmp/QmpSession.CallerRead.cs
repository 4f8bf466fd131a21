using System;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>
    /// The synchronous call, and who reads the socket. One thread at a time holds the read token and
    /// reads; every message it reads is routed as usual (events to the history, replies to their
    /// calls), so it does not matter to a call which thread read its reply.
    /// </summary>
    /// <remarks>
    /// A caller blocked in <see cref="Execute"/> reads its own reply: QEMU's answer then wakes the
    /// caller itself, as in a bare socket loop, instead of waking the reader thread, which then wakes
    /// the caller (on a virtual machine each wake-up of an idle vCPU costs tens of microseconds).
    /// The reader thread reads whenever no synchronous caller does, and for a short while after the
    /// last one, so that a loop of calls does not hand the socket back and forth between each.
    /// The reader never blocks while it holds the token: it waits for data without it, and takes it
    /// only to read what is already there.
    /// </remarks>
    public sealed partial class QmpSession
    {
        // How long the reader thread leaves the socket to synchronous callers after the last one. An
        // event that comes while nobody calls waits at most this long in the socket.
        private static readonly long s_lingerTicks = Stopwatch.Frequency / 200; // 5 ms
        private const int LingerWaitMs = 5;
        // How often a caller blocked in its own read looks at its call: a timeout or Ctrl+C has
        // completed the call's task by then, and the caller must stop reading.
        private const int CallerPollMicroseconds = 50_000;

        private readonly byte[] _readBuffer = new byte[64 * 1024];
        // A monitor, not a SemaphoreSlim: the reader thread waits here whenever callers read, and a
        // semaphore would spin on a core that QEMU and the caller need before it sleeps.
        private readonly object _readerGate = new object();
        private bool _readerWoken;
        private int _readToken;
        private int _syncReader;
        private long _lastSyncRead;

        /// <summary>
        /// Runs a command and waits for its "return" member on the calling thread, which reads the
        /// reply itself when no other thread is reading. Same outcomes as <see cref="ExecuteAsync(string, JsonObject?, QmpCallOptions?, CancellationToken)"/>.
        /// </summary>
        /// <exception cref="QmpCommandException">QEMU answered with an error.</exception>
        /// <exception cref="QmpTimeoutException">No reply in time; a late reply will be dropped.</exception>
        /// <exception cref="QmpDisconnectedException">The session is or became unusable.</exception>
        /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
        public JsonElement Execute(string command, JsonObject? arguments = null, QmpCallOptions? call = null, CancellationToken cancellationToken = default)
        {
            // One caller reads at a time; a second one waits for its task, which the first (or the
            // reader thread, once the first is done) completes. Over TLS only the reader thread reads.
            if (_tls != null || Interlocked.CompareExchange(ref _syncReader, 1, 0) != 0)
                return ExecuteAsync(command, arguments, call, cancellationToken).GetAwaiter().GetResult();
            Task<JsonElement> task;
            try
            {
                task = ExecuteAsync(command, arguments, call, cancellationToken);
                ReadUntil(task);
            }
            finally
            {
                Volatile.Write(ref _lastSyncRead, Stopwatch.GetTimestamp());
                Volatile.Write(ref _syncReader, 0);
                // Calls of other threads still wait for replies: the reader thread must read for them now.
                if (!_pending.IsEmpty) WakeReader();
            }
            return task.GetAwaiter().GetResult();
        }

        /// <summary>Runs an HMP command line through human-monitor-command on the calling thread and returns its text output.</summary>
        public string ExecuteHuman(string commandLine, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
            => HumanText(Execute(HumanCommand, HumanArguments(commandLine), new QmpCallOptions { Timeout = timeout }, cancellationToken));

        private void ReadUntil(Task task)
        {
            var spin = new SpinWait();
            while (!task.IsCompleted)
            {
                // The reader thread holds the token only while it reads what is already there.
                if (!TryTakeReadToken())
                {
                    spin.SpinOnce();
                    continue;
                }
                try
                {
                    while (!task.IsCompleted)
                    {
                        if (!_socket.Poll(CallerPollMicroseconds, SelectMode.SelectRead)) continue;
                        if (!ReadOnce()) return;
                    }
                }
                catch (Exception ex)
                {
                    // As on the reader thread: a broken stream or a bad message ends the session, and with it this call.
                    FaultSession(ex);
                    return;
                }
                finally
                {
                    ReleaseReadToken();
                }
            }
        }

        /// <summary>Reads once (data must be waiting, or the stream has ended) and routes what it completes; false at the end of the stream.</summary>
        private bool ReadOnce()
        {
            int n = _tls != null ? _tls.Read(_readBuffer) : _socket.Receive(_readBuffer);
            if (n == 0)
            {
                FaultSession(new System.IO.EndOfStreamException(_framer.PendingBytes > 0
                    ? string.Format(System.Globalization.CultureInfo.InvariantCulture, "QEMU closed the connection in the middle of a message ({0} bytes of it received).", _framer.PendingBytes)
                    : "QEMU closed the connection."));
                return false;
            }
            _framer.Feed(_readBuffer.AsMemory(0, n), _dispatch);
            return true;
        }

        private bool TryTakeReadToken() => Interlocked.CompareExchange(ref _readToken, 1, 0) == 0;

        private void ReleaseReadToken() => Volatile.Write(ref _readToken, 0);

        /// <summary>True while synchronous callers read for everyone and no call of another thread waits on the reader thread.</summary>
        private bool CallersRead()
        {
            if (Volatile.Read(ref _syncReader) != 0) return true;
            return Stopwatch.GetTimestamp() - Volatile.Read(ref _lastSyncRead) < s_lingerTicks && _pending.IsEmpty;
        }

        private void WakeReader()
        {
            lock (_readerGate)
            {
                _readerWoken = true;
                Monitor.Pulse(_readerGate);
            }
        }

        /// <summary>The reader thread's wait while callers read: until woken, or the time is up.</summary>
        private void WaitForReaderTurn()
        {
            lock (_readerGate)
            {
                if (!_readerWoken) Monitor.Wait(_readerGate, LingerWaitMs);
                _readerWoken = false;
            }
        }

        /// <summary>After a write by a thread that will not read its own reply, make sure the reader thread reads.</summary>
        private void WakeReaderAfterWrite()
        {
            if (Volatile.Read(ref _syncReader) == 0 && Volatile.Read(ref _lastSyncRead) != 0) WakeReader();
        }
    }
}
