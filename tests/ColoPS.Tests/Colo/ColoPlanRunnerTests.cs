using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>
    /// The runner's two modes, against the fake server's replies (which QEMU error comes back is
    /// not COLO behaviour; what the runner does with it is).
    /// </summary>
    public class ColoPlanRunnerTests
    {
        private static ColoPlan Plan(params string[] commands)
        {
            var steps = new ColoStep[commands.Length];
            for (int i = 0; i < commands.Length; i++) steps[i] = ColoStep.Qmp(commands[i], new JsonObject { ["id"] = commands[i] }, "step " + commands[i]);
            return new ColoPlan("Test plan", "node-A", steps);
        }

        [Fact]
        public async Task RunAsync_stops_at_the_first_failed_step_with_a_step_error()
        {
            using var h = await QmpHarness.StartAsync();
            var run = new ColoPlanRunner(h.Session, new ColoTimeouts(), null).RunAsync(Plan("object-del", "cont"), CancellationToken.None);
            var first = await h.Qemu.ReadCommandAsync();
            await h.Qemu.ReplyErrorAsync(first, "DeviceNotFound", "Device 'comp0' not found");
            var ex = await Assert.ThrowsAsync<ColoException>(() => run.Within());
            Assert.Equal("ColoStepFailed", ex.ErrorId);
            Assert.Contains("step object-del", ex.Message);
            Assert.True(await h.Qemu.NothingArrivesWithinAsync(System.TimeSpan.FromMilliseconds(200)));
        }

        [Fact]
        public async Task RunBestEffortAsync_runs_every_step_and_returns_the_failures()
        {
            using var h = await QmpHarness.StartAsync();
            var run = new ColoPlanRunner(h.Session, new ColoTimeouts(), null).RunBestEffortAsync(Plan("object-del", "x-blockdev-change", "cont"), CancellationToken.None);
            var a = await h.Qemu.ReadCommandAsync();
            await h.Qemu.ReplyErrorAsync(a, "DeviceNotFound", "Device 'comp0' not found");
            var b = await h.Qemu.ReadCommandAsync();
            Assert.Equal("x-blockdev-change", b.Name);
            await h.Qemu.ReplyAsync(b);
            var c = await h.Qemu.ReadCommandAsync();
            Assert.Equal("cont", c.Name);
            await h.Qemu.ReplyAsync(c);
            var failures = await run.Within();
            var failure = Assert.Single(failures);
            Assert.Contains("step object-del", failure);
            Assert.Contains("not found", failure);
        }

        [Fact]
        public async Task RunBestEffortAsync_gives_up_when_the_session_is_lost()
        {
            using var h = await QmpHarness.StartAsync();
            var run = new ColoPlanRunner(h.Session, new ColoTimeouts(), null).RunBestEffortAsync(Plan("object-del", "cont"), CancellationToken.None);
            await h.Qemu.ReadCommandAsync();
            h.Qemu.Close();
            await Assert.ThrowsAsync<QmpDisconnectedException>(() => run.Within());
        }
    }
}
