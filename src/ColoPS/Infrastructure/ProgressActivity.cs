namespace ColoPS.Commands
{
    /// <summary>
    /// The progress bar ids of the cmdlets, in one place: each cmdlet keeps its own bar, so a
    /// pipeline of several (Start-ColoSecondary | Start-ColoPrimary) shows both.
    /// </summary>
    internal static class ProgressActivity
    {
        public const int StartSecondary = 0xC01A;
        public const int StartPrimary = 0xC01B;
        public const int Failover = 0xC01C;
        public const int Resume = 0xC01D;
        public const int StopNode = 0x570B;
        public const int WaitQmpEvent = 0x51A7;
    }
}
