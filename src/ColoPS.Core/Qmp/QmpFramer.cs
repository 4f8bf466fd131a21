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
    /// (braces, brackets, strings, escapes) byte by byte instead of splitting on newlines. It works
    /// on bytes, never on decoded text, so a read that ends inside a UTF-8 sequence cannot corrupt
    /// anything: decoding happens once, on the whole message.
    /// </remarks>
    internal sealed class QmpFramer
    {
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

        /// <summary>Feeds one read; adds each completed message to <paramref name="messages"/>.</summary>
        /// <exception cref="QmpProtocolException">A message grew past the size cap.</exception>
        public void Feed(ReadOnlySpan<byte> data, List<byte[]> messages)
        {
            int start = 0;
            for (int i = 0; i < data.Length; i++)
            {
                byte b = data[i];
                if (!_inMessage)
                {
                    if (b == (byte)' ' || b == (byte)'\t' || b == (byte)'\r' || b == (byte)'\n')
                    {
                        start = i + 1;
                        continue;
                    }
                    _inMessage = true;
                    _scalar = b != (byte)'{' && b != (byte)'[';
                    _depth = 0;
                    _inString = false;
                    _escape = false;
                    start = i;
                }

                bool complete = false;
                if (_inString)
                {
                    if (_escape) _escape = false;
                    else if (b == (byte)'\\') _escape = true;
                    else if (b == (byte)'"') _inString = false;
                }
                else if (b == (byte)'"')
                {
                    _inString = true;
                }
                else if (_scalar)
                {
                    complete = b == (byte)'\n';
                }
                else if (b == (byte)'{' || b == (byte)'[')
                {
                    _depth++;
                }
                else if (b == (byte)'}' || b == (byte)']')
                {
                    _depth--;
                    complete = _depth <= 0;
                }

                if (complete)
                {
                    Append(data.Slice(start, i + 1 - start));
                    messages.Add(_current.WrittenSpan.ToArray());
                    _current.Clear();
                    _inMessage = false;
                    start = i + 1;
                }
            }

            if (_inMessage && start < data.Length) Append(data.Slice(start));
        }

        private void Append(ReadOnlySpan<byte> bytes)
        {
            if (_current.WrittenCount + bytes.Length > _maxMessageBytes)
            {
                int seen = _current.WrittenCount + bytes.Length;
                _current.Clear();
                _inMessage = false;
                throw new QmpProtocolException(string.Format(CultureInfo.InvariantCulture,
                    "A message from QEMU is larger than the {0}-byte cap (at least {1} bytes so far). Raise MaxMessageBytes if this is expected.",
                    _maxMessageBytes, seen));
            }
            _current.Write(bytes);
        }
    }
}
