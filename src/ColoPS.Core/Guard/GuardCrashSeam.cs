using System;
using System.Globalization;
using ColoPS.Colo;

namespace ColoPS.Guard
{
    /// <summary>
    /// For crash tests only: COLOPS_TEST_GUARD_DIE_AT="&lt;plan name&gt;:&lt;step&gt;" (1-based) makes the
    /// guard kill its own process with SIGKILL right before that step of that plan, so a test can
    /// leave QEMU exactly as a guard killed at that point would. Unset, it does nothing.
    /// </summary>
    internal static class GuardCrashSeam
    {
        public const string Variable = "COLOPS_TEST_GUARD_DIE_AT";

        public static Action<ColoPlan, int>? FromEnvironment() => Parse(Environment.GetEnvironmentVariable(Variable), () => System.Diagnostics.Process.GetCurrentProcess().Kill());

        /// <summary>The hook for <paramref name="spec"/>, or null when it names no step.</summary>
        public static Action<ColoPlan, int>? Parse(string? spec, Action die)
        {
            if (string.IsNullOrWhiteSpace(spec)) return null;
            int colon = spec.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(spec.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int step) || step < 1) return null;
            string plan = spec.Substring(0, colon);
            return (p, index) =>
            {
                if (index + 1 == step && string.Equals(p.Name, plan, StringComparison.OrdinalIgnoreCase)) die();
            };
        }
    }
}
