using System;
using System.IO;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>Commands: serialize, take an in-band slot and the write lock, write, hand the caller the reply's task.</summary>
    public sealed partial class QmpSession
    {
        /// <summary>Runs a command and returns its "return" member.</summary>
        /// <exception cref="QmpCommandException">QEMU answered with an error.</exception>
        /// <exception cref="QmpTimeoutException">No reply in time; a late reply will be dropped.</exception>
        /// <exception cref="QmpDisconnectedException">The session is or became unusable.</exception>
        public Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken cancellationToken = default)
            => ExecuteAsync(command, arguments, null, cancellationToken);

        public Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments, QmpCallOptions? call, CancellationToken cancellationToken = default)
        {
            if (string.IsNullOrEmpty(command)) throw new ArgumentException("A command name is required.", nameof(command));
            bool oob = call?.OutOfBand ?? false;
            if (oob && !OobEnabled)
            {
                throw new InvalidOperationException($"exec-oob needs the oob capability, which {Endpoint} did not offer or was not negotiated.");
            }
            return SendAsync(command, arguments, oob, call?.Timeout ?? _options.CommandTimeout, cancellationToken, negotiating: false);
        }

        /// <summary>Runs an HMP command line through human-monitor-command and returns its text output.</summary>
        public async Task<string> ExecuteHumanAsync(string commandLine, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        {
            var reply = await ExecuteAsync(HumanCommand, HumanArguments(commandLine), new QmpCallOptions { Timeout = timeout }, cancellationToken).ConfigureAwait(false);
            return HumanText(reply);
        }

        // Shared by ExecuteHumanAsync and the synchronous ExecuteHuman.
        private const string HumanCommand = "human-monitor-command";
        private static JsonObject HumanArguments(string commandLine) => new JsonObject { ["command-line"] = commandLine };
        private static string HumanText(JsonElement reply) => reply.ValueKind == JsonValueKind.String ? reply.GetString()! : reply.GetRawText();

        /// <summary>
        /// Writes raw bytes to the monitor. For parser recovery (an ASCII control byte makes QEMU's
        /// lexer fail and reset) and for protocol tests; <paramref name="expectIdlessErrors"/> id-less
        /// errors that follow are swallowed instead of being attributed to a command.
        /// </summary>
        /// <remarks>
        /// The session's own commands carry numeric ids: a command written here with an id should
        /// use a string one, whose reply is then dropped and counted as unknown.
        /// </remarks>
        public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, int expectIdlessErrors = 0, CancellationToken cancellationToken = default)
        {
            ThrowIfUnusable(negotiating: false);
            Interlocked.Add(ref _idlessErrorsExpected, expectIdlessErrors);
            if (!await _writeLock.WaitAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false))
                throw new QmpTimeoutException("Writing to the QMP socket (another write is stuck)", _options.CommandTimeout);
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                ThrowIfUnusable(negotiating: false);
                // Writing = 1, done = 2, cut short = 3: as for a command, a stall or Ctrl+C mid-write ends the session.
                int state = 1;
                void Cut(object? _) { if (Interlocked.Exchange(ref state, 3) == 1) AbortWrite(null); }
                using (new Timer(Cut, null, _options.CommandTimeout, Timeout.InfiniteTimeSpan))
                using (cancellationToken.UnsafeRegister(Cut, null))
                {
                    try { WriteAll(bytes.Span); }
                    catch (Exception) when (Volatile.Read(ref state) == 3)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        throw Unusable();
                    }
                    if (Interlocked.CompareExchange(ref state, 2, 1) != 1)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        throw Unusable();
                    }
                    WakeReaderAfterWrite();
                }
            }
            catch (Exception ex) when (ex is IOException || ex is SocketException || ex is ObjectDisposedException)
            {
                FaultSession(ex);
                throw Unusable();
            }
            finally
            {
                _writeLock.Release();
            }
        }

        // The common case, a free slot and a free write lock, runs without an async state machine and
        // returns the call's own task; only a caller that has to queue goes through SendQueuedAsync.
        private Task<JsonElement> SendAsync(string command, JsonObject? arguments, bool oob, TimeSpan timeout, CancellationToken cancellationToken, bool negotiating)
        {
            try
            {
                ThrowIfUnusable(negotiating);
                if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<JsonElement>(cancellationToken);
                // A number, not a prefixed string: QEMU takes several microseconds per byte of a
                // command, and "colops-1-123" cost a round trip about a quarter of its time.
                long id = Interlocked.Increment(ref _nextId);
                var call = new QmpPendingCall(id, command, QmpCommandWriter.Serialize(command, oob, arguments, id), QmpCommandObserver.Current, timeout);

                var slots = oob ? null : _inBandSlots;
                if (slots != null && !slots.Wait(0)) return SendQueuedAsync(call, slots, negotiating, cancellationToken);
                call.TakeSlot(slots);
                if (!_writeLock.Wait(0)) return SendQueuedAsync(call, null, negotiating, cancellationToken);
                return StartLocked(call, negotiating, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return Task.FromCanceled<JsonElement>(cancellationToken);
            }
            catch (Exception ex)
            {
                return Task.FromException<JsonElement>(ex);
            }
        }

        private async Task<JsonElement> SendQueuedAsync(QmpPendingCall call, SemaphoreSlim? slots, bool negotiating, CancellationToken cancellationToken)
        {
            if (slots != null)
            {
                // QEMU stops reading once 8 in-band requests are queued; past that even exec-oob could not get through.
                if (!await slots.WaitAsync(Max(call.Remaining, TimeSpan.Zero), cancellationToken).ConfigureAwait(false))
                    throw new QmpTimeoutException($"QMP command '{call.Command}' (waiting for an in-band slot)", call.Timeout);
                call.TakeSlot(slots);
            }
            bool locked = false;
            try
            {
                locked = await _writeLock.WaitAsync(Max(call.Remaining, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
                if (!locked) throw new QmpTimeoutException("Writing to the QMP socket (another write is stuck)", call.Timeout);
            }
            finally
            {
                if (!locked) call.ReleaseSlot();
            }
            return await StartLocked(call, negotiating, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Registers and writes the call; entered holding the write lock, which it releases.</summary>
        private Task<JsonElement> StartLocked(QmpPendingCall call, bool negotiating, CancellationToken cancellationToken)
        {
            try
            {
                // Cancelled while queued for the lock: nothing was written, the stream is intact.
                cancellationToken.ThrowIfCancellationRequested();
                lock (_stateGate)
                {
                    if (!IsUsable(_state, negotiating)) throw Unusable();
                    _pending[call.Id] = call;
                }
                if (call.Observer != null || Logging)
                {
                    string logged = call.SentJson;
                    call.Observer?.OnSend(this, call.Command, logged);
                    Log(QmpLogLevel.Trace, "--> " + logged);
                }

                call.Arm(this, cancellationToken);
                if (!call.BeginWrite())
                {
                    // Timed out or cancelled just now, before a byte went out: the stream is intact.
                    if (_pending.TryRemove(call.Id, out _)) call.ReleaseSlot();
                    call.Disarm();
                    return call.Task;
                }
                try
                {
                    WriteAll(call.Wire);
                }
                catch (Exception ex) when (ex is IOException || ex is SocketException || ex is ObjectDisposedException)
                {
                    FailWrite(call, ex);
                    return call.Task;
                }
                // When the timer or the token cut in during the write, the call already has its outcome.
                call.EndWrite();
                WakeReaderAfterWrite();
                return call.Task;
            }
            catch
            {
                if (_pending.TryRemove(call.Id, out var unsent)) unsent.Disarm();
                call.ReleaseSlot();
                throw;
            }
            finally
            {
                _writeLock.Release();
            }
        }

        // A blocking send: an asynchronous one would switch the socket to non-blocking mode for good
        // and put .NET's epoll thread between QEMU and the reader (see ConnectUnixBlocking). A send
        // QEMU does not drain is ended by the call's timer or token, which shut the socket down.
        private void WriteAll(ReadOnlySpan<byte> bytes)
        {
            if (_tls != null)
            {
                _tls.Write(bytes);
                return;
            }
            while (!bytes.IsEmpty)
            {
                int sent = _socket.Send(bytes);
                bytes = bytes.Slice(sent);
            }
        }

        private void FailWrite(QmpPendingCall call, Exception ex)
        {
            // A write the timer or the token cut short already failed the session and this call.
            if (!call.EndWrite()) return;
            _pending.TryRemove(call.Id, out _);
            FaultSession(ex);
            call.ReleaseSlot();
            call.TrySetException(Unusable());
            call.Disarm();
        }

        /// <summary>A write was cut short: half a message may be in QEMU's parser, so the stream cannot be trusted any more.</summary>
        internal void AbortWrite(Exception? inner)
        {
            FaultSession(new QmpProtocolException("A write to the QMP socket was interrupted mid-message (QEMU is not reading).", null, inner));
        }
    }
}
