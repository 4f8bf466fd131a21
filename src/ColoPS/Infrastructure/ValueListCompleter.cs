using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;
using ColoPS.Colo;

namespace ColoPS.Commands
{
    /// <summary>
    /// Completes a parameter from a list the core owns. Completion, not ValidateSet: the core's
    /// validator refuses other values with its own error id, so the list lives in one place.
    /// </summary>
    public abstract class ValueListCompleter : IArgumentCompleter
    {
        private readonly IReadOnlyList<string> _values;

        protected ValueListCompleter(IReadOnlyList<string> values) => _values = values;

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var pattern = WildcardPattern.Get((wordToComplete ?? string.Empty).Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
            foreach (var v in _values)
                if (pattern.IsMatch(v)) yield return new CompletionResult(v, v, CompletionResultType.ParameterValue, v);
        }
    }

    /// <summary>-NicModel: the models the configuration accepts.</summary>
    public sealed class NicModelCompleter : ValueListCompleter
    {
        public NicModelCompleter() : base(ColoVmConfig.NicModels) { }
    }

    /// <summary>-NetworkBackend: user or tap.</summary>
    public sealed class NetworkBackendCompleter : ValueListCompleter
    {
        public NetworkBackendCompleter() : base(ColoVmConfig.NetworkBackends) { }
    }
}
