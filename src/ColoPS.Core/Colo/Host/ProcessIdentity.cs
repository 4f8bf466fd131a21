namespace ColoPS.Colo.Host
{
    /// <summary>One process for good: its pid and when it started (a reused pid starts later).</summary>
    public sealed record ProcessIdentity(int Pid, long StartTime);
}
