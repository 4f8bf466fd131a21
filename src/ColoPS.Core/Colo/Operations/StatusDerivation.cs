using System.Text.Json;
using ColoPS.Qemu.States;
using ColoPS.Qmp;

namespace ColoPS.Colo.Operations
{
    /// <summary>The protection state and its words, from what one side reported. Pure: the unit tests drive it.</summary>
    public static class StatusDerivation
    {
        /// <param name="coloExit">The last COLO_EXIT since the node last became protected, if any.</param>
        public static (ColoProtection Protection, string? Message) Derive(ColoStatus s, QmpEvent? coloExit)
        {
            var exitReason = coloExit?.Data is JsonElement d ? ColoExitReason.Parse(Json.Str(d, "reason")) : null;
            bool lostPeer = exitReason == ColoExitReason.Error;
            var mode = s.Mode ?? ColoMode.None;
            var migration = s.MigrationStatus ?? MigrationStatus.None;
            if (mode.InColo)
            {
                if (lostPeer)
                    return (ColoProtection.Failed, $"COLO_EXIT (reason error) at {coloExit!.ReceivedAt:HH:mm:ss}: the peer is lost; run Invoke-ColoFailover here.");
                if (mode == ColoMode.Secondary || migration == MigrationStatus.Colo) return (ColoProtection.Protected, null);
                return (ColoProtection.Starting, null);
            }
            if (migration.IsUnderWay) return (ColoProtection.Starting, null);
            if (migration == MigrationStatus.Failed && s.RunState == RunState.Running)
                return (ColoProtection.Unprotected, "The last migration failed, so COLO did not start; the VM runs without a replica. Run Resume-ColoReplication.");
            if (migration == MigrationStatus.Failed) return (ColoProtection.Failed, "Migration failed; COLO did not start.");
            if (migration == MigrationStatus.Completed && s.RunState == RunState.PostMigrate)
                return (ColoProtection.Failed, "Migration completed without entering COLO (the VM is paused in postmigrate).");
            if (s.RunState == RunState.InMigrate) return (ColoProtection.Starting, "Waiting for the primary's migration.");
            if (s.RunState == RunState.Prelaunch) return (ColoProtection.Starting, "Not started yet.");
            if (lostPeer && s.LastMode == ColoMode.Primary)
                return (ColoProtection.Failed, "The secondary is lost and COLO ended; run Invoke-ColoFailover here to clean up.");
            if (s.RunState != null && !s.RunState.IsKnown)
                return (ColoProtection.Unprotected, $"The VM is in run state '{s.RunState}', which ColoPS does not know, without a replica.");
            return (ColoProtection.Unprotected, "The VM runs without a replica; run Resume-ColoReplication.");
        }
    }
}
