using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;

namespace ColoPS.Qmp
{
    /// <summary>
    /// Cuts the server's byte stream into whole JSON messages.
    /// </summary>
    /// <remarks>
    /// QEMU ends each message with CRLF, but a `pretty=on` monitor spreads one message over many
    /// lines, and a read may hold half a message or several. So the framer follows JSON structure
    /// (braces, brackets, strings, escapes) instead of splitting on newlines. It works on bytes,
    /// never on decoded text, so a read that ends inside a UTF-8 sequence cannot corrupt anything:
    /// decoding happens once, on the whole message. It jumps from one structural byte to the next
    /// with a vectorized search, since an event flood is mostly bytes that change nothing.
    /// </remarks>
    internal sealed class QmpFramer
    {
        private static readonly SearchValues<byte> s_structure = SearchValues.Create("{}[]\""u8);
        private static readonly SearchValues<byte> s_inString = SearchValues.Create("\"\\"u8);
        private static readonly SearchValues<byte> s_inScalar = SearchValues.Create("\"\n"u8);

        private readonly int _maxMessageBytes;
        private readonly ArrayBufferWriter<byte> _current = new ArrayBufferWriter<byte>(4096);
        private int _depth;
        private bool _inMessage;
        private bool _scalar;     // a top-level non-container value (invalid for QMP): ends at a newline
        private bool _inString;
        private bool _escape;

        public QmpFramer(int maxMessageBytes)
        {
            _maxMessageBytes = maxMessageBytes;
        }

        /// <summary>Bytes of the message being assembled, for diagnostics on EOF.</summary>
        public int PendingBytes => _current.WrittenCount;

        /// <summary>Feeds one read; adds a copy of each completed message to <paramref name="messages"/>.</summary>
        public void Feed(ReadOnlySpan<byte> data, List<byte[]> messages)
            => Feed(data.ToArray(), m => messages.Add(m.ToArray()));

        /// <summary>
        /// Feeds one read and calls <paramref name="onMessage"/> with each completed message. The
        /// memory is valid only during the call: a slice of <paramref name="data"/> when the whole
        /// message is in this read, else the framer's own buffer.
        /// </summary>
        /// <exception cref="QmpProtocolException">A message grew past the size cap.</exception>
        public void Feed(ReadOnlyMemory<byte> data, Action<ReadOnlyMemory<byte>> onMessage)
        {
            var span = data.Span;
            int start = 0;
            int i = 0;
            while (i < span.Length)
            {
                if (!_inMessage)
                {
                    byte w = span[i];
                    if (w == (byte)' ' || w == (byte)'\t' || w == (byte)'\r' || w == (byte)'\n')
                    {
                        i++;
                        continue;
                    }
                    _inMessage = true;
                    _scalar = w != (byte)'{' && w != (byte)'[';
                    _depth = 0;
                    _inString = false;
                    _escape = false;
                    start = i;
                }

                if (_escape)
                {
                    _escape = false;
                    i++;
                    continue;
                }

                int next = span.Slice(i).IndexOfAny(_inString ? s_inString : _scalar ? s_inScalar : s_structure);
                if (next < 0)
                {
                    i = span.Length;
                    break;
                }
                i += next;
                byte b = span[i];
                bool complete = false;
                if (_inString)
                {
                    if (b == (byte)'\\') _escape = true;
                    else _inString = false;
                }
                else if (b == (byte)'"')
                {
                    _inString = true;
                }
                else if (_scalar)
                {
                    complete = true; // the newline
                }
                else if (b == (byte)'{' || b == (byte)'[')
                {
                    _depth++;
                }
                else
                {
                    _depth--;
                    complete = _depth <= 0;
                }
                i++;

                if (complete)
                {
                    _inMessage = false;
                    if (_current.WrittenCount == 0)
                    {
                        CheckSize(i - start);
                        onMessage(data.Slice(start, i - start));
                    }
                    else
                    {
                        Append(span.Slice(start, i - start));
                        try { onMessage(_current.WrittenMemory); }
                        finally { _current.Clear(); }
                    }
                    start = i;
                }
            }

            if (_inMessage && start < span.Length) Append(span.Slice(start));
        }

        private void Append(ReadOnlySpan<byte> bytes)
        {
            CheckSize(_current.WrittenCount + bytes.Length);
            _current.Write(bytes);
        }

        private void CheckSize(int size)
        {
            if (size <= _maxMessageBytes) return;
            _current.Clear();
            _inMessage = false;
            throw new QmpProtocolException(string.Format(CultureInfo.InvariantCulture,
                "A message from QEMU is larger than the {0}-byte cap (at least {1} bytes so far). Raise MaxMessageBytes if this is expected.",
                _maxMessageBytes, size));
        }
    }
}
