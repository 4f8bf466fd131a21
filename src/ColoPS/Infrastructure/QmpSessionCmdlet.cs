using System;
using System.Collections.Generic;
using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Shared session lookup for the cmdlets that select sessions by Id, Name or InstanceId.</summary>
    public abstract class QmpSessionCmdlet : ColoCmdlet
    {
        protected const string SessionSet = "Session";
        protected const string IdSet = "Id";
        protected const string NameSet = "Name";
        protected const string InstanceIdSet = "InstanceId";

        /// <summary>
        /// Registered sessions matching ids, names (wildcards) or instance ids. A literal that
        /// matches nothing is a non-terminating ObjectNotFound, a wildcard that matches nothing is
        /// silent: the Get-Process rule.
        /// </summary>
        protected IEnumerable<QmpSession> FindSessions(int[]? ids, string[]? names, Guid[]? instanceIds)
        {
            var all = QmpSessionRegistry.GetAll();
            if (ids == null && names == null && instanceIds == null)
            {
                foreach (var s in all) yield return s;
                yield break;
            }

            var seen = new HashSet<QmpSession>();
            foreach (var id in ids ?? Array.Empty<int>())
            {
                bool found = false;
                foreach (var s in all) if (s.Id == id) { found = true; if (seen.Add(s)) yield return s; }
                if (!found) WriteError("QmpSessionNotFound", ErrorCategory.ObjectNotFound, Format("No QMP session has Id {0}.", id), id);
            }
            foreach (var instanceId in instanceIds ?? Array.Empty<Guid>())
            {
                bool found = false;
                foreach (var s in all) if (s.InstanceId == instanceId) { found = true; if (seen.Add(s)) yield return s; }
                if (!found) WriteError("QmpSessionNotFound", ErrorCategory.ObjectNotFound, Format("No QMP session has InstanceId {0}.", instanceId), instanceId);
            }
            foreach (var name in names ?? Array.Empty<string>())
            {
                var pattern = WildcardPattern.Get(name, WildcardOptions.IgnoreCase);
                bool found = false;
                foreach (var s in all) if (pattern.IsMatch(s.Name)) { found = true; if (seen.Add(s)) yield return s; }
                if (!found && !WildcardPattern.ContainsWildcardCharacters(name))
                    WriteError("QmpSessionNotFound", ErrorCategory.ObjectNotFound, Format("No QMP session is named '{0}'.", name), name);
            }
        }
    }
}
