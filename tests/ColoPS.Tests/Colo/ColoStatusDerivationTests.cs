using ColoPS.Colo;
using Xunit;

namespace ColoPS.Tests.Colo
{
    public class ColoStatusDerivationTests
    {
        private static ColoProtection Derive(string mode, string lastMode, string migration, string run)
            => ColoOperations.Derive(new ColoStatus { Mode = mode, LastMode = lastMode, MigrationStatus = migration, RunState = run }, null).Item1;

        [Theory]
        [InlineData("primary", "none", "colo", "running", ColoProtection.Protected)]
        [InlineData("secondary", "none", "colo", "running", ColoProtection.Protected)]
        [InlineData("primary", "none", "active", "running", ColoProtection.Starting)]
        [InlineData("none", "none", "active", "running", ColoProtection.Starting)]
        [InlineData("none", "none", "none", "inmigrate", ColoProtection.Starting)]
        [InlineData("none", "none", "none", "prelaunch", ColoProtection.Starting)]
        [InlineData("none", "none", "failed", "paused", ColoProtection.Failed)]
        // A start or resume that failed and was rolled back: the VM runs alone again.
        [InlineData("none", "none", "failed", "running", ColoProtection.Unprotected)]
        [InlineData("none", "none", "completed", "postmigrate", ColoProtection.Failed)]
        [InlineData("none", "secondary", "completed", "running", ColoProtection.Unprotected)]
        [InlineData("none", "primary", "completed", "running", ColoProtection.Unprotected)]
        public void Protection_follows_qemu_state(string mode, string lastMode, string migration, string run, ColoProtection expected)
            => Assert.Equal(expected, Derive(mode, lastMode, migration, run));
    }
}
