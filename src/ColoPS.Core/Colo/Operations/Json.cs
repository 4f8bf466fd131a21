using System.Collections.Generic;
using System.Linq;
using System.Text.Json;

namespace ColoPS.Colo.Operations
{
    /// <summary>Reading members of QEMU's replies.</summary>
    internal static class Json
    {
        public static string? Str(JsonElement e, string name)
            => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        public static IReadOnlyCollection<string> Names(JsonElement list, string member)
            => list.EnumerateArray().Select(e => Str(e, member)).OfType<string>().ToList();
    }
}
