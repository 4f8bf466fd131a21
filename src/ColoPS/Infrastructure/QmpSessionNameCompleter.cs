using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Completes the names of registered QMP sessions.</summary>
    public sealed class QmpSessionNameCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var word = (wordToComplete ?? string.Empty).Trim('\'', '"');
            var pattern = WildcardPattern.Get(word + "*", WildcardOptions.IgnoreCase);
            foreach (var s in QmpSessionRegistry.GetAll())
            {
                if (!pattern.IsMatch(s.Name)) continue;
                string text = s.Name.IndexOfAny(new[] { ' ', '\'', '$', '`', ';' }) >= 0 ? "'" + s.Name.Replace("'", "''") + "'" : s.Name;
                yield return new CompletionResult(text, s.Name, CompletionResultType.ParameterValue, $"{s.Name} ({s.Endpoint}, {s.State})");
            }
        }
    }
}
