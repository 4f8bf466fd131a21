using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// The event cursor of each (runspace, session) pair that Invoke-QmpCommand moves and
    /// Wait-QmpEvent reads.
    /// </summary>
    /// <remarks>
    /// Per runspace, not per session: a session is shared by thread jobs and by the COLO code, and
    /// their commands must not move the point from which this runspace's next wait looks. Both keys
    /// are weak, so a closed runspace or a dropped session takes its cursors with it.
    /// </remarks>
    internal static class QmpEventCursors
    {
        private static readonly ConditionalWeakTable<object, ConditionalWeakTable<QmpSession, QmpEventCursor>> s_byRunspace =
            new ConditionalWeakTable<object, ConditionalWeakTable<QmpSession, QmpEventCursor>>();
        private static readonly object s_noRunspace = new object();

        /// <summary>This runspace's cursor on <paramref name="session"/>; a new one starts at the session's newest event.</summary>
        public static QmpEventCursor For(QmpSession session)
            => Table().GetValue(session, s => new QmpEventCursor(s.LastEventSequence));

        /// <summary>The runspace that connected counts every event of the new session.</summary>
        public static void Connected(QmpSession session) => Table().AddOrUpdate(session, new QmpEventCursor(0));

        private static ConditionalWeakTable<QmpSession, QmpEventCursor> Table()
            => s_byRunspace.GetValue(Runspace.DefaultRunspace ?? s_noRunspace, _ => new ConditionalWeakTable<QmpSession, QmpEventCursor>());
    }
}
