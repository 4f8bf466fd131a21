using System;
using System.Threading;

namespace ColoPS.Qmp
{
    /// <summary>
    /// Sees each command a caller's own code sends, and each reply it gets.
    /// </summary>
    /// <remarks>
    /// Bound to the async flow with <see cref="QmpCommandObserver.Use"/>, not to the session: several runspaces may
    /// share one session, and each must see only its own commands (a cmdlet's -Verbose).
    /// </remarks>
    public interface IQmpCommandObserver
    {
        /// <summary>Called before a command is written; <paramref name="json"/> is the command as written, with secrets redacted.</summary>
        void OnSend(QmpSession session, string command, string json);
        void OnReceive(QmpSession session, string command, string json);
    }

    public static class QmpCommandObserver
    {
        private static readonly AsyncLocal<IQmpCommandObserver?> s_current = new AsyncLocal<IQmpCommandObserver?>();

        public static IQmpCommandObserver? Current => s_current.Value;

        /// <summary>Observes the commands sent by this async flow until the returned handle is disposed.</summary>
        public static IDisposable Use(IQmpCommandObserver observer)
        {
            var previous = s_current.Value;
            s_current.Value = observer;
            return new Restore(previous);
        }

        private sealed class Restore : IDisposable
        {
            private readonly IQmpCommandObserver? _previous;
            public Restore(IQmpCommandObserver? previous) => _previous = previous;
            public void Dispose() => s_current.Value = _previous;
        }
    }
}
