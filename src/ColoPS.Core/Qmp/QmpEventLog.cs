using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>
    /// A session's event history: a ring of the last N events, numbered, with waiters and
    /// subscribers that can never block the reader.
    /// </summary>
    /// <remarks>
    /// Overflow policy: when the ring is full the oldest event is discarded and counted
    /// (<see cref="DiscardedCount"/>); sequence numbers keep counting, so a gap is visible.
    /// Subscribers get their own bounded queue with the same drop-oldest policy.
    /// To wait for an event that a command is about to cause, read <see cref="LastSequence"/>
    /// before sending and wait with that as the starting point: the history covers the race.
    /// </remarks>
    internal sealed class QmpEventLog
    {
        private readonly object _gate = new object();
        private readonly QmpEvent?[] _ring;
        private readonly List<Waiter> _waiters = new List<Waiter>();
        private readonly List<Subscription> _subscriptions = new List<Subscription>();
        private long _lastSequence;
        private long _discarded;
        private int _head;  // index of the oldest
        private int _count;
        private Exception? _completion;

        public QmpEventLog(int capacity)
        {
            _ring = new QmpEvent[capacity];
        }

        public int Capacity => _ring.Length;
        public long LastSequence { get { lock (_gate) return _lastSequence; } }
        public long DiscardedCount { get { lock (_gate) return _discarded; } }

        public long NextSequence() { lock (_gate) return _lastSequence + 1; }

        /// <summary>Numbers and stores the event, and hands it to matching waiters and subscribers.</summary>
        /// <returns>True when this event is the first to push an older one out of the history.</returns>
        public bool Append(QmpEvent evt)
        {
            bool firstDiscard = false;
            List<Waiter>? fired = null;
            List<(Waiter, Exception)>? failedWaiters = null;
            List<(Subscription, Exception)>? failedSubs = null;
            lock (_gate)
            {
                if (_completion != null) return false;
                evt.Sequence = ++_lastSequence;
                if (_count == _ring.Length)
                {
                    _ring[_head] = evt;
                    _head = (_head + 1) % _ring.Length;
                    firstDiscard = ++_discarded == 1;
                }
                else
                {
                    _ring[(_head + _count) % _ring.Length] = evt;
                    _count++;
                }

                // The filters are caller code: one that throws fails its own wait or feed, never the reader.
                for (int i = _waiters.Count - 1; i >= 0; i--)
                {
                    var w = _waiters[i];
                    if (evt.Sequence <= w.After) continue;
                    bool hit;
                    try { hit = w.Match(evt); }
                    catch (Exception ex)
                    {
                        _waiters.RemoveAt(i);
                        (failedWaiters ??= new List<(Waiter, Exception)>()).Add((w, ex));
                        continue;
                    }
                    if (hit)
                    {
                        _waiters.RemoveAt(i);
                        (fired ??= new List<Waiter>()).Add(w);
                        w.Result = evt;
                    }
                }

                for (int i = _subscriptions.Count - 1; i >= 0; i--)
                {
                    var s = _subscriptions[i];
                    try
                    {
                        if (s.Match(evt)) s.Offer(evt);
                    }
                    catch (Exception ex)
                    {
                        _subscriptions.RemoveAt(i);
                        (failedSubs ??= new List<(Subscription, Exception)>()).Add((s, ex));
                    }
                }
            }

            // Completed outside the lock; continuations run asynchronously, so the reader moves on at once.
            if (fired != null)
            {
                foreach (var w in fired) w.Source.TrySetResult(w.Result!);
            }
            if (failedWaiters != null)
            {
                foreach (var (w, ex) in failedWaiters) w.Source.TrySetException(ex);
            }
            if (failedSubs != null)
            {
                foreach (var (s, ex) in failedSubs) s.Channel.Writer.TryComplete(ex);
            }
            return firstDiscard;
        }

        public IReadOnlyList<QmpEvent> Snapshot(long afterSequence = 0)
        {
            lock (_gate)
            {
                var list = new List<QmpEvent>(_count);
                for (int i = 0; i < _count; i++)
                {
                    var e = _ring[(_head + i) % _ring.Length]!;
                    if (e.Sequence > afterSequence) list.Add(e);
                }
                return list;
            }
        }

        /// <summary>Waits for the first event after <paramref name="afterSequence"/> that matches, looking in the history first.</summary>
        public async Task<QmpEvent> WaitAsync(Func<QmpEvent, bool> match, long afterSequence, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Waiter waiter;
            lock (_gate)
            {
                for (int i = 0; i < _count; i++)
                {
                    var e = _ring[(_head + i) % _ring.Length]!;
                    if (e.Sequence > afterSequence && match(e)) return e;
                }
                if (_completion != null) throw _completion;
                waiter = new Waiter(match, afterSequence);
                _waiters.Add(waiter);
            }

            try
            {
                return await waiter.Source.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new QmpTimeoutException("Waiting for the event", timeout);
            }
            finally
            {
                lock (_gate) _waiters.Remove(waiter);
            }
        }

        public ChannelReader<QmpEvent> Subscribe(Func<QmpEvent, bool> match, int capacity, out IDisposable handle)
        {
            var sub = new Subscription(this, match, capacity);
            lock (_gate)
            {
                if (_completion != null) sub.Channel.Writer.TryComplete(_completion);
                else _subscriptions.Add(sub);
            }
            handle = sub;
            return sub.Channel.Reader;
        }

        /// <summary>Ends the log: waiters and subscribers fail with <paramref name="error"/>. History stays readable.</summary>
        public void Complete(Exception error)
        {
            List<Waiter> waiters;
            List<Subscription> subs;
            lock (_gate)
            {
                if (_completion != null) return;
                _completion = error;
                waiters = new List<Waiter>(_waiters);
                subs = new List<Subscription>(_subscriptions);
                _waiters.Clear();
                _subscriptions.Clear();
            }
            foreach (var w in waiters) w.Source.TrySetException(error);
            foreach (var s in subs) s.Channel.Writer.TryComplete(error);
        }

        private sealed class Waiter
        {
            public Waiter(Func<QmpEvent, bool> match, long after)
            {
                Match = match;
                After = after;
            }

            public Func<QmpEvent, bool> Match { get; }
            public long After { get; }
            public QmpEvent? Result { get; set; }
            public TaskCompletionSource<QmpEvent> Source { get; } = new TaskCompletionSource<QmpEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        private sealed class Subscription : IDisposable
        {
            private readonly QmpEventLog _owner;

            public Subscription(QmpEventLog owner, Func<QmpEvent, bool> match, int capacity)
            {
                _owner = owner;
                Match = match;
                Channel = System.Threading.Channels.Channel.CreateBounded<QmpEvent>(new BoundedChannelOptions(capacity)
                {
                    FullMode = BoundedChannelFullMode.DropOldest,
                    SingleWriter = true,
                });
            }

            public Func<QmpEvent, bool> Match { get; }
            public Channel<QmpEvent> Channel { get; }

            public void Offer(QmpEvent evt) => Channel.Writer.TryWrite(evt);

            public void Dispose()
            {
                lock (_owner._gate) _owner._subscriptions.Remove(this);
                Channel.Writer.TryComplete();
            }
        }
    }
}
