namespace ColoPS.Qmp
{
    public enum QmpLogLevel { Trace, Debug, Warning }

    /// <summary>One diagnostic line of a session. Sent messages arrive redacted.</summary>
    public sealed class QmpLogRecord
    {
        internal QmpLogRecord(QmpLogLevel level, string session, string message)
        {
            Level = level;
            Session = session;
            Message = message;
        }

        public QmpLogLevel Level { get; }
        public string Session { get; }
        public string Message { get; }

        public override string ToString() => $"[{Level}] {Session}: {Message}";
    }
}
