using System;
using System.Globalization;
using System.IO;
using System.Text;

namespace ColoPS.Qmp
{
    /// <summary>
    /// Appends a session's log records (every message sent and received at Trace level, sent ones
    /// redacted) to a file, one line each, and closes the file when the session ends.
    /// </summary>
    public sealed class QmpFileLog
    {
        private readonly object _gate = new object();
        private StreamWriter? _writer;

        public QmpFileLog(string path)
        {
            Path = path;
            _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite), new UTF8Encoding(false)) { AutoFlush = true };
        }

        public string Path { get; }

        public void Write(QmpLogRecord record)
        {
            lock (_gate)
            {
                _writer?.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0:yyyy-MM-ddTHH:mm:ss.ffffffzzz} {1,-7} {2} {3}",
                    DateTimeOffset.Now, record.Level, record.Session, record.Message));
            }
        }

        /// <summary>Closes the file when the session disconnects.</summary>
        public void Attach(QmpSession session) => session.Disconnected += (_, _) => Close();

        public void Close()
        {
            lock (_gate)
            {
                _writer?.Dispose();
                _writer = null;
            }
        }
    }
}
