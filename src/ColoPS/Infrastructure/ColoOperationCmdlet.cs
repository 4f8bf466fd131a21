using System;
using System.Management.Automation;
using ColoPS.Colo;

namespace ColoPS.Commands
{
    /// <summary>Shared plumbing of the cmdlets that drive COLO: timeouts and progress.</summary>
    public abstract class ColoOperationCmdlet : ColoCmdlet
    {
        private readonly int _activityId;

        protected ColoOperationCmdlet(int activityId) => _activityId = activityId;

        /// <summary>Longest wait of any single phase (migration, disk sync, failover), in seconds.</summary>
        [Parameter]
        [ValidateRange(1, 86400)]
        public int TimeoutSec { get; set; } = 600;

        protected ColoTimeouts Timeouts => ColoTimeouts.FromSeconds(TimeoutSec);

        /// <summary>A primary whose QEMU cannot checkpoint under its accelerator is protected only until its first checkpoint: say so.</summary>
        protected void WriteCheckpointWarning(ColoNode primary)
        {
            var warning = ColoPS.Qemu.QemuFeatures.Of(primary.QemuVersion).CheckpointWarning(primary.Accelerator);
            if (warning != null) WriteWarning(primary.Name + ": " + warning);
        }

        /// <summary>What the roll-back of a failed start or resume could not undo, as warnings before the error.</summary>
        protected void WriteRollbackWarnings(Exception failure)
        {
            var rollback = ColoPS.Colo.Operations.ColoRollbackResult.Of(failure);
            if (rollback == null) return;
            foreach (var f in rollback.Failures) WriteWarning(Format("Roll-back of the failed {0}: {1}", rollback.Operation, f));
        }

        /// <summary>Relays core progress to a progress bar; PowerShell hides it when $ProgressPreference says so.</summary>
        protected void OnProgress(ColoProgress p)
        {
            var record = new ProgressRecord(_activityId, p.Activity, string.IsNullOrEmpty(p.Status) ? "..." : p.Status)
            {
                PercentComplete = p.Percent >= 0 ? Math.Min(100, p.Percent) : -1,
                RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
            };
            PostProgress(record);
            if (!p.Completed) PostVerbose(Format("{0}: {1}", p.Activity, p.Status));
        }
    }
}
