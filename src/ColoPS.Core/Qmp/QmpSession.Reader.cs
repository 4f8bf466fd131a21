using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>The reader: cut the stream into messages, and route each to the history (events), the greeting or its command (replies).</summary>
    public sealed partial class QmpSession
    {
        // A dedicated thread reads whenever no synchronous caller does (see QmpSession.CallerRead.cs).
        // It waits for data without the read token and takes it only to read what is there, so it
        // never blocks a caller that wants to read; it never runs caller code that could block it
        // (continuations run asynchronously), and it ends with the session.
        private void StartReader()
        {
            var thread = new Thread(static s => ((QmpSession)s!).ReadLoop(), 256 * 1024)
            {
                IsBackground = true,
                Name = "QMP reader " + Endpoint,
            };
            thread.Start(this);
        }

        private void ReadLoop()
        {
            try
            {
                if (_tls != null)
                {
                    // TLS keeps decrypted bytes of its own that a poll of the socket cannot see: the
                    // reader thread reads for everyone, blocked in the channel's read.
                    while (ReadOnce()) { }
                    return;
                }
                while (!Volatile.Read(ref _ended))
                {
                    if (CallersRead())
                    {
                        WaitForReaderTurn();
                        continue;
                    }
                    if (!_socket.Poll(-1, System.Net.Sockets.SelectMode.SelectRead)) continue;
                    // A caller that holds the token reads what woke us; look again once it is done.
                    if (!TryTakeReadToken())
                    {
                        WaitForReaderTurn();
                        continue;
                    }
                    try
                    {
                        // Nothing waiting and not readable: a caller read it between the poll and the
                        // token. Readable with nothing waiting is the end of the stream: read it.
                        if (_socket.Available == 0 && !_socket.Poll(0, System.Net.Sockets.SelectMode.SelectRead)) continue;
                        if (!ReadOnce()) return;
                    }
                    finally
                    {
                        ReleaseReadToken();
                    }
                }
            }
            catch (Exception ex)
            {
                FaultSession(ex);
            }
        }

        private void Dispatch(ReadOnlyMemory<byte> bytes)
        {
            if (Logging) Log(QmpLogLevel.Trace, "<-- " + QmpRedactor.RedactReceived(bytes.Span));
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(bytes);
            }
            catch (JsonException ex)
            {
                throw new QmpProtocolException("QEMU sent a message that is not valid JSON: " + ex.Message, Snip(bytes.Span), ex);
            }

            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw new QmpProtocolException($"QEMU sent a JSON {root.ValueKind} where a message object was expected.", Snip(bytes.Span));
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
                        throw new QmpProtocolException(ex.Message, Snip(bytes.Span), ex);
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

        private void HandleEvent(JsonElement root, ReadOnlyMemory<byte> bytes)
        {
            if (!root.TryGetProperty("event", out var nameElement) || nameElement.ValueKind != JsonValueKind.String)
            {
                Log(QmpLogLevel.Warning, "Dropped an event whose name is not a string: " + Snip(bytes.Span));
                return;
            }
            long seconds = -1, micros = -1;
            if (root.TryGetProperty("timestamp", out var ts) && ts.ValueKind == JsonValueKind.Object)
            {
                if (ts.TryGetProperty("seconds", out var s) && s.ValueKind == JsonValueKind.Number) s.TryGetInt64(out seconds);
                if (ts.TryGetProperty("microseconds", out var u) && u.ValueKind == JsonValueKind.Number) u.TryGetInt64(out micros);
            }
            JsonElement? data = root.TryGetProperty("data", out var d) ? d.Clone() : (JsonElement?)null;
            var evt = new QmpEvent(this, 0, EventName(nameElement), data, seconds, micros, DateTime.UtcNow);
            if (_events.Append(evt))
            {
                Log(QmpLogLevel.Warning, string.Format(CultureInfo.InvariantCulture,
                    "The event history is full ({0} events); the oldest events are being discarded.", _events.Capacity));
            }
        }

        // A session sees a handful of distinct event names over and over: reuse their strings
        // instead of allocating one per event. Only the reader touches the cache.
        private string EventName(JsonElement nameElement)
        {
            var cache = _eventNames;
            for (int i = 0; i < cache.Length; i++)
            {
                var known = cache[i];
                if (known == null) break;
                if (nameElement.ValueEquals(known)) return known;
            }
            string name = nameElement.GetString()!;
            Array.Copy(cache, 0, cache, 1, cache.Length - 1);
            cache[0] = name;
            return name;
        }

        private void HandleReply(JsonElement root, ReadOnlyMemory<byte> bytes)
        {
            QmpPendingCall? pending;
            if (root.TryGetProperty("id", out var idElement))
            {
                if (idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt64(out long id) || !_pending.TryRemove(id, out pending))
                {
                    Interlocked.Increment(ref _unknownReplies);
                    Log(QmpLogLevel.Warning, "Dropped a reply with an unknown id: " + Snip(bytes.Span));
                    return;
                }
            }
            else
            {
                if (!root.TryGetProperty("error", out _))
                {
                    Interlocked.Increment(ref _unknownReplies);
                    Log(QmpLogLevel.Warning, "Dropped a reply without an id: " + Snip(bytes.Span));
                    return;
                }
                if (TryConsumeExpectedIdlessError())
                {
                    Log(QmpLogLevel.Debug, "Swallowed the id-less error that follows a parser reset: " + Snip(bytes.Span));
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
                try { pending.Observer.OnReceive(this, pending.Command, QmpRedactor.RedactReceived(bytes.Span)); }
                catch (Exception ex) { Log(QmpLogLevel.Warning, $"A command observer threw on the reply to '{pending.Command}': {ex.Message}"); }
            }
            Complete(pending, root, bytes);
            pending.Disarm();
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
        private QmpPendingCall? TakeIdlessTarget(ReadOnlyMemory<byte> bytes)
        {
            if (_pending.IsEmpty)
            {
                Interlocked.Increment(ref _unknownReplies);
                Log(QmpLogLevel.Warning, "Dropped an id-less error with no command in flight: " + Snip(bytes.Span));
                return null;
            }
            if (OobEnabled)
            {
                throw new QmpProtocolException("QEMU sent an id-less error while commands were in flight with OOB on; it cannot be matched to a command.", Snip(bytes.Span));
            }
            QmpPendingCall? oldest = null;
            foreach (var p in _pending.Values)
            {
                if (oldest == null || p.Order < oldest.Order) oldest = p;
            }
            return oldest != null && _pending.TryRemove(oldest.Id, out var taken) ? taken : null;
        }

        private static void Complete(QmpPendingCall pending, JsonElement root, ReadOnlyMemory<byte> bytes)
        {
            if (HasDuplicateMember(root))
            {
                // The spec calls the outcome of repeated keys unpredictable: refuse to guess.
                pending.TrySetException(new QmpProtocolException($"The reply to '{pending.Command}' repeats a member name.", Snip(bytes.Span)));
                return;
            }
            bool hasReturn = root.TryGetProperty("return", out var ret);
            bool hasError = root.TryGetProperty("error", out var err);
            if (hasReturn == hasError)
            {
                pending.TrySetException(new QmpProtocolException(
                    $"The reply to '{pending.Command}' has {(hasReturn ? "both" : "neither")} \"return\" {(hasReturn ? "and" : "nor")} \"error\".", Snip(bytes.Span)));
                return;
            }
            if (hasReturn)
            {
                pending.TrySetResult(ret.Clone());
                return;
            }
            if (err.ValueKind != JsonValueKind.Object
                || !err.TryGetProperty("class", out var cls) || cls.ValueKind != JsonValueKind.String
                || !err.TryGetProperty("desc", out var desc) || desc.ValueKind != JsonValueKind.String)
            {
                pending.TrySetException(new QmpProtocolException(
                    $"The error reply to '{pending.Command}' lacks a string \"class\" and \"desc\".", Snip(bytes.Span)));
                return;
            }
            pending.TrySetException(new QmpCommandException(pending.Command, cls.GetString()!, desc.GetString()!, pending.SentJson, QmpRedactor.RedactReceived(bytes.Span)));
        }

        private static bool HasDuplicateMember(JsonElement obj)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in obj.EnumerateObject()) if (!seen.Add(p.Name)) return true;
            return false;
        }
    }
}
