namespace ColoPS.Colo
{
    /// <summary>A progress report from a long COLO step.</summary>
    public sealed class ColoProgress
    {
        public ColoProgress(string activity, string status, int percent, bool completed = false)
        {
            Activity = activity;
            Status = status;
            Percent = percent;
            Completed = completed;
        }

        public string Activity { get; }
        public string Status { get; }
        /// <summary>0 to 100, or -1 when unknown.</summary>
        public int Percent { get; }
        public bool Completed { get; }
    }
}
