using System;
using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ColoPS.Qmp
{
    /// <summary>Serializes one command straight to the bytes that go on the wire.</summary>
    /// <remarks>
    /// The caller's arguments are written as they are, not cloned into a new message object, and the
    /// buffer is reused per thread: a command costs one array, the one the write and a later error
    /// message need.
    /// </remarks>
    internal static class QmpCommandWriter
    {
        // QEMU's monitor reads its input one byte per turn of its loop (a 47-byte command takes over a
        // hundred reads), and each byte costs it microseconds: a command carries no byte it does not
        // need. One line end (QEMU needs none, but a line keeps a logged stream readable and lets
        // QEMU's parser recover after garbage), and a numeric id (see QmpSession.Send.cs).
        private static readonly byte[] s_lineEnd = { (byte)'\n' };

        [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
        [ThreadStatic] private static Utf8JsonWriter? t_writer;

        public static byte[] Serialize(string command, bool oob, JsonObject? arguments, long id)
        {
            var buffer = t_buffer ??= new ArrayBufferWriter<byte>(256);
            buffer.Clear();
            var writer = t_writer;
            if (writer == null) t_writer = writer = new Utf8JsonWriter(buffer);
            else writer.Reset(buffer);

            // The member order QEMU's own tools and the logs use: execute, arguments, id.
            writer.WriteStartObject();
            writer.WriteString(oob ? "exec-oob" : "execute", command);
            if (arguments != null)
            {
                writer.WritePropertyName("arguments");
                arguments.WriteTo(writer);
            }
            writer.WriteNumber("id", id);
            writer.WriteEndObject();
            writer.Flush();
            buffer.Write(s_lineEnd);

            // A huge argument (a file's content) must not stay pinned in a thread's buffer.
            byte[] bytes = buffer.WrittenSpan.ToArray();
            if (buffer.Capacity > 64 * 1024) t_buffer = null;
            return bytes;
        }

        /// <summary>The command as text for a log or an error, secrets masked; without the line end.</summary>
        public static string ForLog(byte[] wire) => QmpRedactor.RedactReceived(wire.AsSpan(0, wire.Length - s_lineEnd.Length));
    }
}
