using System;
using System.Collections.Generic;
using System.Globalization;

namespace ColoPS.Qmp
{
    /// <summary>
    /// The sessions a process has open, each with a short Id, like PowerShell's runspace repository.
    /// </summary>
    /// <remarks>
    /// Process-wide on purpose: ThreadJobs and other runspaces of one pwsh process see the same
    /// sessions, so one QMP connection can serve parallel runbook steps. A session leaves the
    /// registry when it is disconnected through the module, or when a new session takes its name
    /// after it closed or broke.
    /// </remarks>
    public static class QmpSessionRegistry
    {
        private static readonly object s_gate = new object();
        private static readonly List<QmpSession> s_sessions = new List<QmpSession>();
        private static int s_lastId;

        public static QmpSession Add(QmpSession session)
        {
            if (session == null) throw new ArgumentNullException(nameof(session));
            lock (s_gate)
            {
                if (s_sessions.Contains(session)) return session;
                // A name belongs to the live session that has it: a closed or broken session under the
                // same name (a node started again, a monitor reconnected) is replaced, not kept beside it.
                if (session.Name.Length > 0)
                {
                    s_sessions.RemoveAll(s => string.Equals(s.Name, session.Name, StringComparison.OrdinalIgnoreCase)
                        && (s.State == QmpSessionState.Closed || s.State == QmpSessionState.Broken));
                }
                session.Id = ++s_lastId;
                if (session.Name.Length == 0) session.Name = "Qmp" + session.Id.ToString(CultureInfo.InvariantCulture);
                s_sessions.Add(session);
                return session;
            }
        }

        public static bool Remove(QmpSession session)
        {
            lock (s_gate) return s_sessions.Remove(session);
        }

        public static IReadOnlyList<QmpSession> GetAll()
        {
            lock (s_gate) return s_sessions.ToArray();
        }
    }
}
