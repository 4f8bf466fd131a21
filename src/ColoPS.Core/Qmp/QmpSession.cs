using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using ColoPS.Qemu;

namespace ColoPS.Qmp
{
    /// <summary>
    /// One QMP connection to a QEMU monitor: commands routed by id, events kept in a bounded
    /// history, every wait bounded by a timeout and a cancellation token.
    /// </summary>
    /// <remarks>
    /// Thread-safe: any number of threads may send commands at once. A single reader task reads
    /// continuously (QEMU's output buffer grows while nobody reads) and never waits on a caller.
    /// When the connection fails, every pending call fails at once with
    /// <see cref="QmpDisconnectedException"/> carrying the cause, and later calls fail fast.
    /// </remarks>
    public sealed class QmpSession : IDisposable
    {
        private static long s_serial;

        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly QmpSessionOptions _options;
        private readonly QmpFramer _framer;
        private readonly QmpEventLog _events;
        private readonly ConcurrentDictionary<string, Pending> _pending = new ConcurrentDictionary<string, Pending>(StringComparer.Ordinal);
        private readonly SemaphoreSlim _writeLock = new SemaphoreSlim(1, 1);
        private readonly CancellationTokenSource _readerStop = new CancellationTokenSource();
        private readonly TaskCompletionSource<QmpGreeting> _greeting = new TaskCompletionSource<QmpGreeting>(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly object _stateGate = new object();
        private readonly string _idPrefix;
        private SemaphoreSlim? _inBandSlots;
        private Task? _reader;
        private QmpSessionState _state = QmpSessionState.Connecting;
        private Exception? _fault;
        private long _nextId;
        private long _unknownReplies;
        private long _lateReplies;
        private int _idlessErrorsExpected;
        private QmpGreeting? _greetingValue;

        private QmpSession(QmpEndpoint endpoint, Socket socket, QmpSessionOptions options)
        {
            Endpoint = endpoint;
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
            _options = options;
            _framer = new QmpFramer(options.MaxMessageBytes);
            _events = new QmpEventLog(options.EventHistoryCapacity);
            Name = options.Name ?? string.Empty;
            long serial = Interlocked.Increment(ref s_serial);
            _idPrefix = "colops-" + serial.ToString(CultureInfo.InvariantCulture) + "-";
        }

        #region Properties

        /// <summary>Short number given by the session registry (like a PSSession's Id); 0 when not registered.</summary>
        public int Id { get; internal set; }
        public Guid InstanceId { get; } = Guid.NewGuid();
        public string Name { get; internal set; }
        public QmpEndpoint Endpoint { get; }
        public QmpSessionState State { get { lock (_stateGate) return _state; } }
        public QemuVersion? QemuVersion => _greetingValue?.Version;
        /// <summary>Capabilities QEMU offered in its greeting.</summary>
        public IReadOnlyList<string> Capabilities => _greetingValue?.Capabilities ?? Array.Empty<string>();
        /// <summary>True when oob was negotiated: exec-oob is possible and in-band commands are limited to MaxInBandInFlight.</summary>
        public bool OobEnabled { get; private set; }
        public DateTimeOffset ConnectedAt { get; } = DateTimeOffset.Now;
        /// <summary>Why the session broke, when State is Broken.</summary>
        public Exception? Fault { get { lock (_stateGate) return _fault; } }
        public string? FaultReason => Fault?.Message;
        /// <summary>Sequence number of the newest event received; read it before a command to wait for the event that command causes.</summary>
        public long LastEventSequence => _events.LastSequence;
        public int EventHistoryCapacity => _events.Capacity;
        /// <summary>Events pushed out of the history by newer ones.</summary>
        public long DiscardedEventCount => _events.DiscardedCount;
        /// <summary>Replies whose id matched no command of this session (dropped, logged).</summary>
        public long UnknownReplyCount => Interlocked.Read(ref _unknownReplies);
        /// <summary>Replies that came after their command timed out or was cancelled (dropped, logged).</summary>
        public long LateReplyCount => Interlocked.Read(ref _lateReplies);
        public int PendingCommandCount => _pending.Count;
        public TimeSpan CommandTimeout => _options.CommandTimeout;

        /// <summary>Raised once, on the reader thread, when the connection ends for any reason.</summary>
        public event EventHandler? Disconnected;

        #endregion

        #region Connect

        /// <summary>Connects, reads the greeting and negotiates capabilities (oob when offered and enabled).</summary>
        public static async Task<QmpSession> ConnectAsync(QmpEndpoint endpoint, QmpSessionOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (endpoint == null) throw new ArgumentNullException(nameof(endpoint));
            options = (options ?? new QmpSessionOptions()).Validate();
            var clock = Stopwatch.StartNew();
            TimeSpan Remaining() => Max(options.ConnectTimeout - clock.Elapsed, TimeSpan.FromMilliseconds(1));

            var socketEndPoint = endpoint.ToSocketEndPoint();
            var socket = endpoint.CreateSocket();
            using (var connectCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectCts.CancelAfter(options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(socketEndPoint, connectCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    socket.Dispose();
                    throw new QmpConnectException(endpoint, string.Format(CultureInfo.InvariantCulture,
                        "Connecting to {0} timed out after {1:0.###} s.", endpoint, options.ConnectTimeout.TotalSeconds), null);
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    string reason = endpoint.Transport == QmpTransport.Unix && !System.IO.File.Exists(endpoint.Path)
                        ? "no socket exists at that path (is QEMU running with -qmp unix:" + endpoint.Path + ",server=on?)"
                        : ex.Message;
                    throw new QmpConnectException(endpoint, $"Cannot connect to {endpoint}: {reason}", ex);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            var session = new QmpSession(endpoint, socket, options);
            try
            {
                session._reader = Task.Run(session.ReadLoopAsync);
                QmpGreeting greeting;
                try
                {
                    greeting = await session._greeting.Task.WaitAsync(Remaining(), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    throw new QmpGreetingException(string.Format(CultureInfo.InvariantCulture,
                        "No QMP greeting from {0} within {1:0.###} s. Is it a QMP monitor (not HMP), and is another client holding it?", endpoint, options.ConnectTimeout.TotalSeconds));
                }
                catch (QmpDisconnectedException ex)
                {
                    throw new QmpGreetingException($"The connection to {endpoint} ended before a complete QMP greeting: {ex.InnerException?.Message ?? ex.Message}", ex);
                }

                session._greetingValue = greeting;
                session.SetState(QmpSessionState.Negotiating);
                bool oob = options.EnableOob && Contains(greeting.Capabilities, "oob");
                var arguments = oob ? new JsonObject { ["enable"] = new JsonArray("oob") } : null;
                try
                {
                    await session.SendAsync("qmp_capabilities", arguments, false, Remaining(), cancellationToken, negotiating: true).ConfigureAwait(false);
                }
                catch (QmpCommandException ex)
                {
                    throw new QmpNegotiationException($"qmp_capabilities was refused by {endpoint}: {ex.Description}", ex);
                }
                catch (Exception ex) when (ex is QmpDisconnectedException || ex is QmpTimeoutException || ex is QmpProtocolException)
                {
                    throw new QmpNegotiationException($"Capability negotiation with {endpoint} failed: {ex.Message}", ex);
                }

                if (oob)
                {
                    session._inBandSlots = new SemaphoreSlim(options.MaxInBandInFlight, options.MaxInBandInFlight);
                    session.OobEnabled = true;
                }
                session.SetState(QmpSessionState.Running);
                return session;
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }

        #endregion

        #region Commands

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
            var reply = await ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = commandLine },
                new QmpCallOptions { Timeout = timeout }, cancellationToken).ConfigureAwait(false);
            return reply.ValueKind == JsonValueKind.String ? reply.GetString()! : reply.GetRawText();
        }

        /// <summary>
        /// Writes raw bytes to the monitor. For parser recovery (an ASCII control byte makes QEMU's
        /// lexer fail and reset) and for protocol tests; <paramref name="expectIdlessErrors"/> id-less
        /// errors that follow are swallowed instead of being attributed to a command.
        /// </summary>
        public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, int expectIdlessErrors = 0, CancellationToken cancellationToken = default)
        {
            ThrowIfUnusable(negotiating: false);
            Interlocked.Add(ref _idlessErrorsExpected, expectIdlessErrors);
            await WriteAsync(bytes, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }

        private async Task<JsonElement> SendAsync(string command, JsonObject? arguments, bool oob, TimeSpan timeout, CancellationToken cancellationToken, bool negotiating)
        {
            ThrowIfUnusable(negotiating);
            var clock = Stopwatch.StartNew();
            TimeSpan Remaining() => Max(timeout - clock.Elapsed, TimeSpan.Zero);

            string id = _idPrefix + Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
            var message = new JsonObject { [oob ? "exec-oob" : "execute"] = command };
            if (arguments != null) message["arguments"] = arguments.DeepClone();
            message["id"] = id;
            string wire = message.ToJsonString();
            string logged = QmpRedactor.Redact(message, wire);
            byte[] bytes = Encoding.UTF8.GetBytes(wire + "\r\n");

            var slots = oob ? null : _inBandSlots;
            if (slots != null)
            {
                // QEMU stops reading once 8 in-band requests are queued; past that even exec-oob could not get through.
                if (!await slots.WaitAsync(Remaining(), cancellationToken).ConfigureAwait(false))
                    throw new QmpTimeoutException($"QMP command '{command}' (waiting for an in-band slot)", timeout);
            }

            var pending = new Pending(id, command, logged, slots, QmpCommandObserver.Current);
            lock (_stateGate)
            {
                if (!IsUsable(_state, negotiating))
                {
                    slots?.Release();
                    throw Unusable();
                }
                _pending[id] = pending;
            }

            bool written = false;
            try
            {
                pending.Observer?.OnSend(this, command, logged);
                Log(QmpLogLevel.Trace, "--> " + logged);
                await WriteAsync(bytes, Remaining(), cancellationToken).ConfigureAwait(false);
                written = true;
            }
            finally
            {
                if (!written && _pending.TryRemove(id, out var unsent)) unsent.ReleaseSlot();
            }

            try
            {
                return await pending.Reply.Task.WaitAsync(Remaining(), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                pending.Abandon();
                throw new QmpTimeoutException($"QMP command '{command}'", timeout);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                pending.Abandon();
                throw;
            }
        }

        private async Task WriteAsync(ReadOnlyMemory<byte> bytes, TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (!await _writeLock.WaitAsync(timeout, cancellationToken).ConfigureAwait(false))
                throw new QmpTimeoutException("Writing to the QMP socket (another write is stuck)", timeout);
            try
            {
                // Cancelled while queued for the lock: nothing was written, the stream is intact.
                cancellationToken.ThrowIfCancellationRequested();
                ThrowIfUnusable(negotiating: true);
                using var writeCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                writeCts.CancelAfter(Max(timeout, TimeSpan.FromMilliseconds(1)));
                try
                {
                    await _stream.WriteAsync(bytes, writeCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex)
                {
                    // A write cut short leaves half a message in QEMU's parser: the stream cannot be trusted any more.
                    var cause = new QmpProtocolException("A write to the QMP socket was interrupted mid-message (QEMU is not reading).", null, ex);
                    FaultSession(cause);
                    if (cancellationToken.IsCancellationRequested) throw;
                    throw new QmpDisconnectedException(cause.Message, cause);
                }
                catch (Exception ex) when (ex is IOException || ex is SocketException || ex is ObjectDisposedException)
                {
                    FaultSession(ex);
                    throw Unusable();
                }
            }
            finally
            {
                _writeLock.Release();
            }
        }

        #endregion

        #region Events

        /// <summary>The retained events after <paramref name="afterSequence"/>, oldest first.</summary>
        public IReadOnlyList<QmpEvent> GetEvents(long afterSequence = 0) => _events.Snapshot(afterSequence);

        /// <summary>
        /// Waits for the first event after <paramref name="afterSequence"/> whose name is one of
        /// <paramref name="names"/>. Pass the LastEventSequence read before sending a command to catch
        /// an event that command causes, however fast it comes.
        /// </summary>
        public Task<QmpEvent> WaitForEventAsync(IReadOnlyCollection<string> names, long afterSequence, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            if (names == null || names.Count == 0) throw new ArgumentException("At least one event name is required.", nameof(names));
            var set = new HashSet<string>(names, StringComparer.OrdinalIgnoreCase);
            return WaitForEventAsync(e => set.Contains(e.Name), afterSequence, timeout, cancellationToken);
        }

        public Task<QmpEvent> WaitForEventAsync(Func<QmpEvent, bool> match, long afterSequence, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            if (match == null) throw new ArgumentNullException(nameof(match));
            return _events.WaitAsync(match, afterSequence, timeout, cancellationToken);
        }

        /// <summary>Sends a command and waits for an event it causes, without a window in which the event could be missed.</summary>
        public async Task<QmpEvent> ExecuteAndWaitForEventAsync(string command, JsonObject? arguments, Func<QmpEvent, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            long mark = LastEventSequence;
            var clock = Stopwatch.StartNew();
            await ExecuteAsync(command, arguments, new QmpCallOptions { Timeout = timeout }, cancellationToken).ConfigureAwait(false);
            return await WaitForEventAsync(match, mark, Max(timeout - clock.Elapsed, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// A live feed of matching events. The queue holds <paramref name="capacity"/> events and
        /// drops the oldest when a slow reader falls behind, so the reader task never blocks.
        /// Dispose the handle to stop.
        /// </summary>
        public ChannelReader<QmpEvent> SubscribeEvents(Func<QmpEvent, bool>? match, int capacity, out IDisposable subscription)
        {
            if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
            return _events.Subscribe(match ?? (_ => true), capacity, out subscription);
        }

        #endregion

        #region Reader

        private async Task ReadLoopAsync()
        {
            var buffer = new byte[64 * 1024];
            var messages = new List<byte[]>();
            Exception cause;
            try
            {
                while (true)
                {
                    int n = await _stream.ReadAsync(buffer, _readerStop.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        cause = new EndOfStreamException(_framer.PendingBytes > 0
                            ? string.Format(CultureInfo.InvariantCulture, "QEMU closed the connection in the middle of a message ({0} bytes of it received).", _framer.PendingBytes)
                            : "QEMU closed the connection.");
                        break;
                    }
                    messages.Clear();
                    _framer.Feed(buffer.AsSpan(0, n), messages);
                    foreach (var m in messages) Dispatch(m);
                }
            }
            catch (Exception ex)
            {
                cause = ex;
            }
            FaultSession(cause);
        }

        private void Dispatch(byte[] bytes)
        {
            if (_options.Log != null) Log(QmpLogLevel.Trace, "<-- " + QmpRedactor.RedactReceived(bytes));
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(bytes);
            }
            catch (JsonException ex)
            {
                throw new QmpProtocolException("QEMU sent a message that is not valid JSON: " + ex.Message, Snip(bytes), ex);
            }

            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw new QmpProtocolException($"QEMU sent a JSON {root.ValueKind} where a message object was expected.", Snip(bytes));
                }

                if (root.TryGetProperty("event", out _))
                {
                    // Events may come before the greeting and during negotiation: never mistake them for either.
                    HandleEvent(root, bytes);
                    return;
                }

                if (!_greeting.Task.IsCompleted)
                {
                    try
                    {
                        _greeting.TrySetResult(QmpGreeting.Parse(root));
                    }
                    catch (QmpGreetingException ex)
                    {
                        _greeting.TrySetException(ex);
                        throw new QmpProtocolException(ex.Message, Snip(bytes), ex);
                    }
                    return;
                }

                if (root.TryGetProperty("QMP", out _))
                {
                    Log(QmpLogLevel.Warning, "Dropped a second QMP greeting on the same connection.");
                    return;
                }

                HandleReply(root, bytes);
            }
        }

        private void HandleEvent(JsonElement root, byte[] bytes)
        {
            if (!root.TryGetProperty("event", out var nameElement) || nameElement.ValueKind != JsonValueKind.String)
            {
                Log(QmpLogLevel.Warning, "Dropped an event whose name is not a string: " + Snip(bytes));
                return;
            }
            long seconds = -1, micros = -1;
            if (root.TryGetProperty("timestamp", out var ts) && ts.ValueKind == JsonValueKind.Object)
            {
                if (ts.TryGetProperty("seconds", out var s) && s.ValueKind == JsonValueKind.Number) s.TryGetInt64(out seconds);
                if (ts.TryGetProperty("microseconds", out var u) && u.ValueKind == JsonValueKind.Number) u.TryGetInt64(out micros);
            }
            JsonElement? data = root.TryGetProperty("data", out var d) ? d.Clone() : (JsonElement?)null;
            string name = nameElement.GetString()!;
            long before = _events.DiscardedCount;
            _events.Append(seq => new QmpEvent(this, seq, name, data, seconds, micros, DateTimeOffset.Now));
            if (before == 0 && _events.DiscardedCount == 1)
            {
                Log(QmpLogLevel.Warning, string.Format(CultureInfo.InvariantCulture,
                    "The event history is full ({0} events); the oldest events are being discarded.", _events.Capacity));
            }
        }

        private void HandleReply(JsonElement root, byte[] bytes)
        {
            Pending? pending;
            if (root.TryGetProperty("id", out var idElement))
            {
                if (idElement.ValueKind != JsonValueKind.String || !_pending.TryRemove(idElement.GetString()!, out pending))
                {
                    Interlocked.Increment(ref _unknownReplies);
                    Log(QmpLogLevel.Warning, "Dropped a reply with an unknown id: " + Snip(bytes));
                    return;
                }
            }
            else
            {
                if (!root.TryGetProperty("error", out _))
                {
                    Interlocked.Increment(ref _unknownReplies);
                    Log(QmpLogLevel.Warning, "Dropped a reply without an id: " + Snip(bytes));
                    return;
                }
                if (TryConsumeExpectedIdlessError())
                {
                    Log(QmpLogLevel.Debug, "Swallowed the id-less error that follows a parser reset: " + Snip(bytes));
                    return;
                }
                pending = TakeIdlessTarget(bytes);
                if (pending == null) return;
            }

            pending.ReleaseSlot();
            if (pending.IsAbandoned)
            {
                Interlocked.Increment(ref _lateReplies);
                Log(QmpLogLevel.Debug, $"Dropped the late reply to '{pending.Command}' ({pending.Id}), which had timed out or been cancelled.");
                return;
            }
            if (pending.Observer != null)
            {
                // Caller code on the reader thread: if it throws, the reply must still reach its caller.
                try { pending.Observer.OnReceive(this, pending.Command, QmpRedactor.RedactReceived(bytes)); }
                catch (Exception ex) { Log(QmpLogLevel.Warning, $"A command observer threw on the reply to '{pending.Command}': {ex.Message}"); }
            }
            Complete(pending, root, bytes);
        }

        private bool TryConsumeExpectedIdlessError()
        {
            while (true)
            {
                int expected = Volatile.Read(ref _idlessErrorsExpected);
                if (expected <= 0) return false;
                if (Interlocked.CompareExchange(ref _idlessErrorsExpected, expected - 1, expected) == expected) return true;
            }
        }

        // QEMU answers a command it could not parse without an id. Without OOB it handles one
        // request at a time, in order, so the error belongs to the oldest command in flight. With
        // OOB the order is not fixed: nothing can be attributed, and the session is no longer sound.
        private Pending? TakeIdlessTarget(byte[] bytes)
        {
            if (_pending.IsEmpty)
            {
                Interlocked.Increment(ref _unknownReplies);
                Log(QmpLogLevel.Warning, "Dropped an id-less error with no command in flight: " + Snip(bytes));
                return null;
            }
            if (OobEnabled)
            {
                throw new QmpProtocolException("QEMU sent an id-less error while commands were in flight with OOB on; it cannot be matched to a command.", Snip(bytes));
            }
            Pending? oldest = null;
            foreach (var p in _pending.Values)
            {
                if (oldest == null || p.Order < oldest.Order) oldest = p;
            }
            return oldest != null && _pending.TryRemove(oldest.Id, out var taken) ? taken : null;
        }

        private static void Complete(Pending pending, JsonElement root, byte[] bytes)
        {
            if (HasDuplicateMember(root))
            {
                // The spec calls the outcome of repeated keys unpredictable: refuse to guess.
                pending.Reply.TrySetException(new QmpProtocolException($"The reply to '{pending.Command}' repeats a member name.", Snip(bytes)));
                return;
            }
            bool hasReturn = root.TryGetProperty("return", out var ret);
            bool hasError = root.TryGetProperty("error", out var err);
            if (hasReturn == hasError)
            {
                pending.Reply.TrySetException(new QmpProtocolException(
                    $"The reply to '{pending.Command}' has {(hasReturn ? "both" : "neither")} \"return\" {(hasReturn ? "and" : "nor")} \"error\".", Snip(bytes)));
                return;
            }
            if (hasReturn)
            {
                pending.Reply.TrySetResult(ret.Clone());
                return;
            }
            if (err.ValueKind != JsonValueKind.Object
                || !err.TryGetProperty("class", out var cls) || cls.ValueKind != JsonValueKind.String
                || !err.TryGetProperty("desc", out var desc) || desc.ValueKind != JsonValueKind.String)
            {
                pending.Reply.TrySetException(new QmpProtocolException(
                    $"The error reply to '{pending.Command}' lacks a string \"class\" and \"desc\".", Snip(bytes)));
                return;
            }
            pending.Reply.TrySetException(new QmpCommandException(pending.Command, cls.GetString()!, desc.GetString()!, pending.SentJson, QmpRedactor.RedactReceived(bytes)));
        }

        #endregion

        #region State and teardown

        private void SetState(QmpSessionState state)
        {
            lock (_stateGate)
            {
                if (_state == QmpSessionState.Connecting || _state == QmpSessionState.Negotiating) _state = state;
            }
        }

        private static bool IsUsable(QmpSessionState state, bool negotiating)
            => state == QmpSessionState.Running || (negotiating && (state == QmpSessionState.Negotiating || state == QmpSessionState.Connecting));

        private void ThrowIfUnusable(bool negotiating)
        {
            lock (_stateGate)
            {
                if (IsUsable(_state, negotiating)) return;
            }
            throw Unusable();
        }

        private QmpDisconnectedException Unusable()
        {
            lock (_stateGate)
            {
                return _state == QmpSessionState.Broken
                    ? new QmpDisconnectedException($"The QMP session to {Endpoint} is broken: {_fault?.Message}", _fault)
                    : new QmpDisconnectedException($"The QMP session to {Endpoint} is {_state.ToString().ToLowerInvariant()}.", _fault);
            }
        }

        private void FaultSession(Exception cause)
        {
            bool requested;
            lock (_stateGate)
            {
                if (_state == QmpSessionState.Closed || _state == QmpSessionState.Broken) return;
                requested = _state == QmpSessionState.Closing;
                _state = requested ? QmpSessionState.Closed : QmpSessionState.Broken;
                if (!requested) _fault = cause;
            }

            var error = requested
                ? new QmpDisconnectedException($"The QMP session to {Endpoint} was closed.", null)
                : new QmpDisconnectedException($"The QMP connection to {Endpoint} was lost: {cause.Message}", cause);
            if (!requested) Log(QmpLogLevel.Warning, error.Message);

            _greeting.TrySetException(error);
            foreach (var id in _pending.Keys)
            {
                if (_pending.TryRemove(id, out var p))
                {
                    // Frees its in-band slot too: a caller queued for a slot then sees the session is over and fails at once.
                    p.ReleaseSlot();
                    p.Reply.TrySetException(error);
                }
            }
            _events.Complete(error);
            _readerStop.Cancel();
            try { _stream.Dispose(); } catch (Exception) { /* already gone */ }
            try { Disconnected?.Invoke(this, EventArgs.Empty); }
            catch (Exception ex) { Log(QmpLogLevel.Warning, "A Disconnected handler threw: " + ex.Message); }
        }

        /// <summary>Closes the connection. Pending calls fail with QmpDisconnectedException; a broken session stays Broken.</summary>
        public void Dispose()
        {
            lock (_stateGate)
            {
                if (_state != QmpSessionState.Closed && _state != QmpSessionState.Broken) _state = QmpSessionState.Closing;
            }
            FaultSession(new ObjectDisposedException(nameof(QmpSession)));
        }

        #endregion

        private void Log(QmpLogLevel level, string message)
        {
            var log = _options.Log;
            if (log == null) return;
            try { log(new QmpLogRecord(level, Name.Length > 0 ? Name : Endpoint.ToString(), message)); }
            catch (Exception) { /* a broken logger must not take the reader down */ }
        }

        private static string Snip(byte[] bytes)
        {
            int n = Math.Min(bytes.Length, 512);
            var text = Encoding.UTF8.GetString(bytes, 0, n);
            return n < bytes.Length ? text + "..." : text;
        }

        private static bool HasDuplicateMember(JsonElement obj)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in obj.EnumerateObject()) if (!seen.Add(p.Name)) return true;
            return false;
        }

        private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

        private static bool Contains(IReadOnlyList<string> list, string value)
        {
            foreach (var s in list) if (string.Equals(s, value, StringComparison.Ordinal)) return true;
            return false;
        }

        public override string ToString() => $"{(Name.Length > 0 ? Name : "QmpSession")} ({Endpoint}, {State})";

        private sealed class Pending
        {
            private static long s_order;
            private SemaphoreSlim? _slot;
            private int _abandoned;

            public Pending(string id, string command, string sentJson, SemaphoreSlim? slot, IQmpCommandObserver? observer)
            {
                Id = id;
                Command = command;
                SentJson = sentJson;
                _slot = slot;
                Observer = observer;
                Order = Interlocked.Increment(ref s_order);
            }

            public string Id { get; }
            public string Command { get; }
            public string SentJson { get; }
            public long Order { get; }
            public IQmpCommandObserver? Observer { get; }
            public TaskCompletionSource<JsonElement> Reply { get; } = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
            public bool IsAbandoned => Volatile.Read(ref _abandoned) != 0;

            // A timed-out in-band command keeps its slot until QEMU answers: QEMU still has it queued.
            public void Abandon() => Interlocked.Exchange(ref _abandoned, 1);

            public void ReleaseSlot() => Interlocked.Exchange(ref _slot, null)?.Release();
        }
    }
}
