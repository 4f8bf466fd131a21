using ColoPS.Qemu.States;
using Xunit;

namespace ColoPS.Tests.Colo.Operations
{
    /// <summary>QEMU's state names parsed once: known ones are the same object, unknown ones keep their text.</summary>
    public class QemuStatesTests
    {
        [Fact]
        public void Known_names_parse_to_the_named_values()
        {
            Assert.Same(RunState.Running, RunState.Parse("running"));
            Assert.Same(MigrationStatus.Colo, MigrationStatus.Parse("colo"));
            Assert.Same(ColoMode.Secondary, ColoMode.Parse("secondary"));
            Assert.Same(ColoExitReason.Error, ColoExitReason.Parse("error"));
            Assert.Same(BlockJobStatus.Ready, BlockJobStatus.Parse("ready"));
            Assert.True(MigrationStatus.Parse("wait-unplug").IsUnderWay);
            Assert.True(RunState.Parse("postmigrate").IsPaused);
        }

        [Fact]
        public void An_unknown_name_is_kept_and_compares_by_its_text()
        {
            var a = MigrationStatus.Parse("colo-failover");
            Assert.False(a.IsKnown);
            Assert.Equal("colo-failover", a.Name);
            Assert.Equal(MigrationStatus.Parse("colo-failover"), a);
            Assert.True(a == MigrationStatus.Parse("colo-failover"));
            Assert.False(a.IsUnderWay);
            Assert.NotEqual(MigrationStatus.Colo, a);
        }

        [Fact]
        public void Missing_members_read_as_the_neutral_value()
        {
            Assert.Same(MigrationStatus.None, MigrationStatus.Parse(null));
            Assert.Same(ColoMode.None, ColoMode.Parse(null));
            Assert.False(RunState.Parse(null).IsKnown);
        }
    }
}
