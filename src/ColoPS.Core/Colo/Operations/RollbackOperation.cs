using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// Puts a QEMU that still answers back to running alone after a failed start or resume: what
    /// it still holds decides what is removed, each step best effort.
    /// </summary>
    public sealed class RollbackOperation
    {
        private readonly ColoTimeouts _timeouts;
        private readonly Action<ColoProgress>? _progress;

        public RollbackOperation(ColoTimeouts timeouts, Action<ColoProgress>? progress)
        {
            _timeouts = timeouts;
            _progress = progress;
        }

        /// <summary>The clean-up of a failed Start-ColoPrimary on the caller's QEMU: its own filters and colo-compare stay for the next attempt.</summary>
        public static ColoPlan PlanStart(ColoNode primary, ColoLeftOver left)
            => ColoPlans.StartRollback(primary.Config, primary.Site, left.ReplicationChild, left.Yank, left.Paused);

        /// <summary>The clean-up of a failed resume: only what the resume had added, and the compare loops it may have dropped.</summary>
        public static ColoPlan PlanResume(ColoNode survivor, ColoLeftOver left)
            => ColoPlans.ResumeRollback(survivor.Config, survivor.Site, left.MirrorJob, left.ReplicationChild, left.Objects, left.Chardevs, left.Yank, left.Paused);

        public async Task<ColoRollbackResult> RunAsync(ColoNode node, string operation, Func<ColoNode, ColoLeftOver, ColoPlan> plan)
        {
            // Not cancellable: a roll-back half done on Ctrl+C would leave the VM paused or filtered.
            try
            {
                var left = await QemuReadings.LeftOverAsync(node.Session, CancellationToken.None).ConfigureAwait(false);
                var rollback = plan(node, left);
                var failures = await new ColoPlanRunner(node.Session, _timeouts, _progress).RunBestEffortAsync(rollback, CancellationToken.None).ConfigureAwait(false);
                return new ColoRollbackResult(operation, rollback, failures);
            }
            catch (QmpException ex)
            {
                return new ColoRollbackResult(operation, null, new[] { $"The {operation} could not be rolled back: " + ex.Message });
            }
        }
    }
}
