using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qemu.States;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>One side's COLO-relevant state, read in one place and parsed once.</summary>
    public sealed record QemuSnapshot(RunState RunState, ColoMode Mode, ColoMode LastMode, ColoExitReason Reason, MigrationStatus Migration)
    {
        /// <summary>The role COLO gives this side now: its mode, or the last mode once a peer loss ended COLO by itself.</summary>
        public ColoMode EffectiveMode => Mode.InColo ? Mode : LastMode;

        public static async Task<QemuSnapshot> ReadAsync(QmpSession session, QmpCallOptions? call, CancellationToken ct)
        {
            var run = await session.ExecuteAsync("query-status", null, call, ct).ConfigureAwait(false);
            var migrate = await session.ExecuteAsync("query-migrate", null, call, ct).ConfigureAwait(false);
            var colo = await session.ExecuteAsync("query-colo-status", null, call, ct).ConfigureAwait(false);
            return new QemuSnapshot(
                RunState.Parse(Json.Str(run, "status")),
                ColoMode.Parse(Json.Str(colo, "mode")),
                ColoMode.Parse(Json.Str(colo, "last-mode")),
                ColoExitReason.Parse(Json.Str(colo, "reason")),
                MigrationStatus.Parse(Json.Str(migrate, "status")));
        }
    }
}
