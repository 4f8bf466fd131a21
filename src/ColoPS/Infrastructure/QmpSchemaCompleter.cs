using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Runtime.CompilerServices;
using System.Text.Json;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Completes QMP command names (from query-commands) and event names (from query-qmp-schema)
    /// of the session named in the command line, or of the only open session. Each list is read
    /// once per session: a completer must answer at typing speed.
    /// </summary>
    public abstract class QmpSchemaCompleter : IArgumentCompleter
    {
        private static readonly ConditionalWeakTable<QmpSession, string[]> s_commands = new ConditionalWeakTable<QmpSession, string[]>();
        private static readonly ConditionalWeakTable<QmpSession, string[]> s_events = new ConditionalWeakTable<QmpSession, string[]>();
        private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(2);

        protected abstract IEnumerable<string> Names(QmpSession session);

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var session = SessionFrom(fakeBoundParameters);
            if (session == null || session.State != QmpSessionState.Running) return Array.Empty<CompletionResult>();
            var pattern = WildcardPattern.Get((wordToComplete ?? string.Empty).Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
            IEnumerable<string> names;
            try { names = Names(session); }
            catch (Exception ex) when (ex is QmpException || ex is OperationCanceledException) { return Array.Empty<CompletionResult>(); }
            return names.Where(n => pattern.IsMatch(n)).OrderBy(n => n, StringComparer.Ordinal)
                .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n)).ToList();
        }

        private static QmpSession? SessionFrom(IDictionary bound)
        {
            if (bound != null && bound.Contains("Session"))
            {
                var value = bound["Session"];
                if (value is PSObject pso) value = pso.BaseObject;
                if (value is QmpSession s) return s;
            }
            var open = QmpSessionRegistry.GetAll().Where(s => s.State == QmpSessionState.Running).ToList();
            return open.Count == 1 ? open[0] : null;
        }

        protected static string[] Commands(QmpSession session) => s_commands.GetValue(session, s =>
        {
            var reply = s.ExecuteAsync("query-commands", null, new QmpCallOptions { Timeout = s_timeout }).GetAwaiter().GetResult();
            return reply.EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToArray();
        });

        protected static string[] Events(QmpSession session) => s_events.GetValue(session, s =>
        {
            var schema = s.ExecuteAsync("query-qmp-schema", null, new QmpCallOptions { Timeout = s_timeout }).GetAwaiter().GetResult();
            return schema.EnumerateArray()
                .Where(e => e.TryGetProperty("meta-type", out var m) && m.GetString() == "event")
                .Select(e => e.GetProperty("name").GetString()!).ToArray();
        });
    }

    /// <summary>Completes -Command of Invoke-QmpCommand.</summary>
    public sealed class QmpCommandNameCompleter : QmpSchemaCompleter
    {
        protected override IEnumerable<string> Names(QmpSession session) => Commands(session);
    }

    /// <summary>Completes -Name of Get-QmpEvent and Wait-QmpEvent, with the events already seen first in the list.</summary>
    public sealed class QmpEventNameCompleter : QmpSchemaCompleter
    {
        protected override IEnumerable<string> Names(QmpSession session)
            => Events(session).Concat(session.GetEvents().Select(e => e.Name)).Distinct(StringComparer.Ordinal);
    }
}
