using System;
using System.Collections.Generic;
using ColoPS.Colo;

namespace ColoPS.Guard
{
    public enum GuardRunState { Running, Stopped, Gone, NeverRan }

    /// <summary>A guard as another process sees it, from the state file the guard rewrites every tick.</summary>
    public sealed record GuardStatus
    {
        public string Site { get; init; } = "";
        public GuardRunState State { get; init; }
        public int? GuardProcessId { get; init; }
        public DateTimeOffset? UpdatedAt { get; init; }
        public string? Own { get; init; }
        public string? Witness { get; init; }
        public IReadOnlyList<string> Actions { get; init; } = Array.Empty<string>();
        public string? Reason { get; init; }
        public bool Warning { get; init; }
        public long MyEpoch { get; init; }
        public long WitnessEpoch { get; init; }
        public string? Detail { get; init; }
        public string StatePath { get; init; } = "";

        /// <summary>A guard that has not rewritten its state for this long is reported Gone even if its process lives (it hangs).</summary>
        public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(5);

        public static GuardStatus Read(ColoConfig config, ColoSite site)
        {
            var path = ColoGuard.StatePathOf(config, site);
            var s = GuardJournal.ReadState(path);
            if (s?.Last == null) return new GuardStatus { Site = site.ToString(), State = GuardRunState.NeverRan, StatePath = path };
            var last = s.Last;
            bool alive = last.GuardProcessId > 0 && Qemu.ProcessProbe.IsAlive(last.GuardProcessId);
            var state = !s.Running ? GuardRunState.Stopped
                : alive && DateTimeOffset.Now - s.UpdatedAt < StaleAfter ? GuardRunState.Running
                : GuardRunState.Gone;
            return new GuardStatus
            {
                Site = site.ToString(), State = state, GuardProcessId = last.GuardProcessId, UpdatedAt = s.UpdatedAt, Own = last.Own, Witness = last.Witness,
                Actions = last.Actions, Reason = state == GuardRunState.Gone ? "the guard ended without stopping (crashed or killed); last: " + last.Reason : last.Reason,
                Warning = last.Warning || state == GuardRunState.Gone, MyEpoch = last.MyEpoch, WitnessEpoch = last.WitnessEpoch, Detail = last.Detail, StatePath = path,
            };
        }
    }
}
