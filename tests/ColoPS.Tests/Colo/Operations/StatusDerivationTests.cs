using System;
using System.Text.Json;
using ColoPS.Colo;
using ColoPS.Colo.Operations;
using ColoPS.Qemu.States;
using ColoPS.Qmp;
using Xunit;

namespace ColoPS.Tests.Colo.Operations
{
    /// <summary>How a side's protection and its message follow from what QEMU reported.</summary>
    public class StatusDerivationTests
    {
        private static ColoStatus Status(string mode, string lastMode, string migration, string run) => new ColoStatus
        {
            Mode = ColoMode.Parse(mode),
            LastMode = ColoMode.Parse(lastMode),
            MigrationStatus = MigrationStatus.Parse(migration),
            RunState = RunState.Parse(run),
        };

        private static QmpEvent ColoExit(string mode, string reason)
            => new QmpEvent(null, 7, "COLO_EXIT", JsonDocument.Parse($"{{\"mode\":\"{mode}\",\"reason\":\"{reason}\"}}").RootElement.Clone(), 1764576000, 0,
                new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));

        [Theory]
        [InlineData("primary", "none", "colo", "running", ColoProtection.Protected, null)]
        [InlineData("secondary", "none", "colo", "running", ColoProtection.Protected, null)]
        // QEMU 11's secondary between checkpoints.
        [InlineData("secondary", "none", "colo", "colo", ColoProtection.Protected, null)]
        [InlineData("primary", "none", "active", "running", ColoProtection.Starting, null)]
        [InlineData("none", "none", "active", "running", ColoProtection.Starting, null)]
        [InlineData("none", "none", "setup", "inmigrate", ColoProtection.Starting, null)]
        [InlineData("none", "none", "none", "inmigrate", ColoProtection.Starting, "Waiting for the primary's migration.")]
        [InlineData("none", "none", "none", "prelaunch", ColoProtection.Starting, "Not started yet.")]
        [InlineData("none", "none", "failed", "paused", ColoProtection.Failed, "Migration failed; COLO did not start.")]
        // A start or resume that failed and was rolled back: the VM runs alone again.
        [InlineData("none", "none", "failed", "running", ColoProtection.Unprotected, "The last migration failed, so COLO did not start; the VM runs without a replica. Run Resume-ColoReplication.")]
        [InlineData("none", "none", "completed", "postmigrate", ColoProtection.Failed, "Migration completed without entering COLO (the VM is paused in postmigrate).")]
        [InlineData("none", "secondary", "completed", "running", ColoProtection.Unprotected, "The VM runs without a replica; run Resume-ColoReplication.")]
        [InlineData("none", "primary", "completed", "running", ColoProtection.Unprotected, "The VM runs without a replica; run Resume-ColoReplication.")]
        public void Protection_and_message_follow_qemu_state(string mode, string lastMode, string migration, string run, ColoProtection expected, string? message)
        {
            var (protection, said) = StatusDerivation.Derive(Status(mode, lastMode, migration, run), null);
            Assert.Equal(expected, protection);
            Assert.Equal(message, said);
        }

        [Fact]
        public void A_side_in_colo_that_saw_colo_exit_error_has_lost_its_peer()
        {
            var (protection, message) = StatusDerivation.Derive(Status("secondary", "none", "colo", "running"), ColoExit("secondary", "error"));
            Assert.Equal(ColoProtection.Failed, protection);
            Assert.Equal("COLO_EXIT (reason error) at 08:00:00: the peer is lost; run Invoke-ColoFailover here.", message);
        }

        [Fact]
        public void A_primary_whose_colo_ended_on_its_own_needs_the_failover_clean_up()
        {
            var (protection, message) = StatusDerivation.Derive(Status("none", "primary", "completed", "running"), ColoExit("primary", "error"));
            Assert.Equal(ColoProtection.Failed, protection);
            Assert.Contains("run Invoke-ColoFailover here to clean up", message);
        }

        [Fact]
        public void A_requested_exit_is_not_a_lost_peer()
            => Assert.Equal(ColoProtection.Unprotected, StatusDerivation.Derive(Status("none", "secondary", "completed", "running"), ColoExit("secondary", "request")).Protection);

        [Fact]
        public void An_unknown_run_state_stays_visible_in_the_message()
        {
            var s = Status("none", "none", "none", "suspended-by-newer-qemu");
            Assert.False(s.RunState!.IsKnown);
            Assert.Equal("suspended-by-newer-qemu", s.RunState.ToString());
            var (protection, message) = StatusDerivation.Derive(s, null);
            Assert.Equal(ColoProtection.Unprotected, protection);
            Assert.Contains("'suspended-by-newer-qemu'", message);
        }
    }
}
