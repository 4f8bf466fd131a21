namespace ColoPS.Colo
{
    /// <summary>Options of a start.</summary>
    public sealed class ColoStartOptions
    {
        public ColoTimeouts Timeouts { get; set; } = new ColoTimeouts();

        /// <summary>Start even on a QEMU version known to be unable to act as COLO primary (for testing the detection).</summary>
        public bool SkipVersionCheck { get; set; }
    }
}
