using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
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
    /// Thread-safe: any number of threads may send commands at once. The socket is read all the
    /// time (QEMU's output buffer grows while nobody reads): by a caller of the synchronous
    /// <see cref="Execute"/> waiting for its reply, or else by the session's reader thread, which
    /// never waits on a caller.
    /// When the connection fails, every pending call fails at once with
    /// <see cref="QmpDisconnectedException"/> carrying the cause, and later calls fail fast.
    /// The parts live in QmpSession.Connect.cs (handshake), QmpSession.Send.cs (commands) and
    /// QmpSession.Reader.cs (the reader thread and reply routing), QmpSession.CallerRead.cs (the
    /// synchronous call and the read token).
    /// </remarks>
    public sealed partial class QmpSession : IDisposable
    {

        private readonly Socket _socket;
        private readonly QmpTlsChannel? _tls;
        private readonly QmpSessionOptions _options;
        private readonly QmpFramer _framer;
        private readonly QmpEventLog _events;
        private readonly ConcurrentDictionary<long, QmpPendingCall> _pending = new ConcurrentDictionary<long, QmpPendingCall>();
        private readonly SemaphoreSlim _writeLock = new SemaphoreSlim(1, 1);
        private readonly TaskCompletionSource<QmpGreeting> _greeting = new TaskCompletionSource<QmpGreeting>(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly object _stateGate = new object();
        private SemaphoreSlim? _inBandSlots;
        private QmpSessionState _state = QmpSessionState.Connecting;
        private Exception? _fault;
        private long _nextId;
        private long _unknownReplies;
        private long _lateReplies;
        private int _idlessErrorsExpected;
        private QmpGreeting? _greetingValue;
        private readonly string?[] _eventNames = new string?[16];
        private readonly Action<ReadOnlyMemory<byte>> _dispatch;
        private bool _ended;

        private QmpSession(QmpEndpoint endpoint, Socket socket, QmpSessionOptions options, QmpTlsChannel? tls = null)
        {
            Endpoint = endpoint;
            _socket = socket;
            _tls = tls;
            _options = options;
            _framer = new QmpFramer(options.MaxMessageBytes);
            _events = new QmpEventLog(options.EventHistoryCapacity);
            Name = options.Name ?? string.Empty;
            _dispatch = Dispatch;
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

        /// <summary>Raised once, on the thread that saw the connection end (the reader, a synchronous caller, or Dispose), for any reason.</summary>
        public event EventHandler? Disconnected;

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
        /// drops the oldest when a slow reader falls behind, so the reader thread never blocks.
        /// Dispose the handle to stop.
        /// </summary>
        public ChannelReader<QmpEvent> SubscribeEvents(Func<QmpEvent, bool>? match, int capacity, out IDisposable subscription)
        {
            if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
            return _events.Subscribe(match ?? (_ => true), capacity, out subscription);
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
                    p.TrySetException(error);
                    p.Disarm();
                }
            }
            _events.Complete(error);
            Volatile.Write(ref _ended, true);
            WakeReader();
            // Shutdown first: it wakes the reader and any writer blocked in the kernel.
            try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception) { /* not connected any more */ }
            try { _socket.Dispose(); } catch (Exception) { /* already gone */ }
            _tls?.Dispose();
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

        private bool Logging => _options.Log != null;

        private void Log(QmpLogLevel level, string message)
        {
            var log = _options.Log;
            if (log == null) return;
            try { log(new QmpLogRecord(level, Name.Length > 0 ? Name : Endpoint.ToString(), message)); }
            catch (Exception) { /* a broken logger must not take the reader down */ }
        }

        private static string Snip(ReadOnlySpan<byte> bytes)
        {
            int n = Math.Min(bytes.Length, 512);
            var text = Encoding.UTF8.GetString(bytes.Slice(0, n));
            return n < bytes.Length ? text + "..." : text;
        }

        private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

        public override string ToString() => $"{(Name.Length > 0 ? Name : "QmpSession")} ({Endpoint}, {State})";
    }
}
