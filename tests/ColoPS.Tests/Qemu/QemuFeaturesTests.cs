using System.Linq;
using System.Text.Json.Nodes;
using ColoPS.Colo;
using ColoPS.Qemu;
using Xunit;

namespace ColoPS.Tests.Qemu
{
    /// <summary>The version facts: each difference between QEMU versions, decided in one place.</summary>
    public class QemuFeaturesTests
    {
        private static QemuFeatures F(string version) => QemuFeatures.Of(QemuVersion.Parse(version));

        [Theory]
        [InlineData("7.2.0", "reconnect=1")]
        [InlineData("9.1.0", "reconnect=1")]
        [InlineData("9.2.0", "reconnect-ms=1000")]
        [InlineData("11.1.3", "reconnect-ms=1000")]
        public void Reconnect_option_follows_the_version(string version, string expected)
            => Assert.Equal(expected, F(version).ReconnectOption);

        [Theory]
        [InlineData("10.0.0", false)]
        [InlineData("10.0.2", false)]
        [InlineData("10.0.6", false)]
        [InlineData("10.0.7", true)]
        [InlineData("10.1.0", false)]
        [InlineData("10.1.2", false)]
        [InlineData("10.1.3", true)]
        [InlineData("10.2.0", true)]
        [InlineData("7.2.22", true)]
        [InlineData("9.2.4", true)]
        [InlineData("11.1.3", true)]
        public void Broken_primary_versions_are_known(string version, bool canBePrimary)
        {
            Assert.Equal(canBePrimary, F(version).CanBePrimary);
            var ex = Record.Exception(() => F(version).ThrowIfCannotBePrimary());
            if (canBePrimary) Assert.Null(ex);
            else Assert.Equal("ColoQemuVersionUnsupported", Assert.IsType<ColoException>(ex).ErrorId);
        }

        [Theory]
        [InlineData("7.2.22", TcgCheckpointBehavior.Hangs)]
        [InlineData("10.0.13", TcgCheckpointBehavior.Hangs)]
        [InlineData("10.2.1", TcgCheckpointBehavior.Aborts)]
        [InlineData("11.0.0", TcgCheckpointBehavior.Works)]
        [InlineData("11.1.3", TcgCheckpointBehavior.Works)]
        public void Checkpoints_under_tcg_by_version(string version, TcgCheckpointBehavior expected)
            => Assert.Equal(expected, F(version).TcgCheckpoints);

        [Fact]
        public void Only_tcg_before_11_gets_the_checkpoint_warning()
        {
            Assert.Contains("hangs", F("7.2.22").CheckpointWarning(ColoAccelerator.Tcg));
            Assert.Contains("aborts", F("10.2.0").CheckpointWarning(ColoAccelerator.Tcg));
            Assert.Null(F("7.2.22").CheckpointWarning(ColoAccelerator.Kvm));
            Assert.Null(F("11.1.3").CheckpointWarning(ColoAccelerator.Tcg));
        }

        [Theory]
        [InlineData("7.2.22", new[] { "x-colo" })]
        [InlineData("10.2.0", new[] { "x-colo" })]
        [InlineData("11.1.3", new[] { "return-path", "x-colo" })]
        public void Qemu_11_enables_return_path_with_x_colo_on_both_sides(string version, string[] capabilities)
        {
            var cfg = Colo.ColoPlansTests.Config();
            var f = F(version);
            foreach (var plan in new[] { ColoPlans.SecondaryPrepare(cfg, ColoSite.B, f), ColoPlans.PrimaryProtect(cfg, ColoSite.A, f), ColoPlans.Resume(cfg, ColoSite.A, false, f) })
            {
                var step = plan.Steps.First(s => s.Command == "migrate-set-capabilities");
                var names = ((JsonArray)step.Arguments!["capabilities"]!).Select(c => (string)c!["capability"]!).ToArray();
                Assert.Equal(capabilities, names);
            }
        }
    }
}
