using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using System.Text.Json.Nodes;
using ColoPS.Colo;
using ColoPS.Guard;
using ColoPS.Qemu.States;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>
    /// A failover cut short at any step (its guard killed) and planned again from what QEMU then
    /// holds must end where the whole failover ends, and planning once more must find nothing to do.
    /// QEMU's side is a small model of the state these commands touch, with QEMU's refusals: deleting
    /// what is not there, adding what is, deleting an attached node, removing a chardev a filter uses,
    /// leaving COLO outside COLO.
    /// </summary>
    public class FailoverRemainderTests
    {
        private sealed class Qemu
        {
            public ColoMode Mode = ColoMode.None;
            public string? Child;
            public bool Node, Nbd;
            public HashSet<string> Objects = new(), Chardevs = new();

            public static Qemu Of(FailoverLeftOver l) => new()
            {
                Mode = l.Mode, Child = l.ReplicationChild, Node = l.ReplicationNode, Nbd = l.NbdExport,
                Objects = l.Objects.ToHashSet(), Chardevs = l.Chardevs.ToHashSet(),
            };

            public FailoverLeftOver Read() => new(Mode, Child, Node, Nbd, Objects.ToList(), Chardevs.ToList());

            public string State => $"{Mode}/{Child}/{Node}/{Nbd}/{string.Join(",", Objects.OrderBy(o => o))}/{string.Join(",", Chardevs.OrderBy(c => c))}";

            public void Apply(ColoStep s)
            {
                string? id = (string?)s.Arguments?["id"];
                switch (s.Kind == ColoStepKind.WaitForColoExit ? "wait" : s.Command)
                {
                    case "yank": break;
                    case "wait": Require(Mode == ColoMode.None, "still in COLO"); break;
                    case "x-blockdev-change": Require(Child != null && (string?)s.Arguments!["child"] == Child, "no such child"); Child = null; break;
                    case "blockdev-del": Require(Node, "no node"); Require(Child == null, "node is in use"); Node = false; break;
                    case "object-del": Require(Objects.Remove(id!), $"object {id} not found"); break;
                    case "nbd-server-stop": Require(Nbd, "NBD server not running"); Nbd = false; break;
                    case "x-colo-lost-heartbeat": Require(Mode.InColo, "VM is not in COLO mode"); Mode = ColoMode.None; break;
                    case "chardev-remove":
                        // The secondary's redirectors hold red0 (f1) and red1 (f2).
                        Require(!(id == "red0" && Objects.Contains("f1")) && !(id == "red1" && Objects.Contains("f2")), $"chardev {id} is busy");
                        Require(Chardevs.Remove(id!), $"chardev {id} not found");
                        break;
                    case "chardev-add": Require(Chardevs.Add(id!), $"chardev {id} already exists"); break;
                    default: throw new InvalidOperationException("not modelled: " + s.Command);
                }
            }

            private static void Require(bool ok, string error) { if (!ok) throw new InvalidOperationException(error); }
        }

        private static readonly ColoConfig s_config = ColoPlansTests.Config();

        public static IEnumerable<object[]> Cuts()
        {
            foreach (var (name, site, start) in Starts())
            {
                int n = ColoPlans.FailoverRemainder(s_config, site, start, Array.Empty<JsonObject>()).Steps.Count;
                for (int k = 0; k <= n; k++) yield return new object[] { name, k };
            }
        }

        private static IEnumerable<(string Name, ColoSite Site, FailoverLeftOver Start)> Starts()
        {
            yield return ("secondary", ColoSite.B, FailoverLeftOver.FullSecondary);
            yield return ("primary", ColoSite.A, FailoverLeftOver.FullPrimary("children.1"));
            // A primary whose COLO ended by itself (COLO_EXIT error) before its guard failed it over.
            yield return ("primary out of COLO", ColoSite.A, FailoverLeftOver.FullPrimary("children.1") with { Mode = ColoMode.None });
        }

        [Theory]
        [MemberData(nameof(Cuts))]
        public void A_failover_cut_after_any_step_is_finished_by_planning_again(string start, int done)
        {
            var (_, site, left) = Starts().Single(s => s.Name == start);
            var whole = ColoPlans.FailoverRemainder(s_config, site, left, Array.Empty<JsonObject>());
            var end = Qemu.Of(left);
            foreach (var s in whole.Steps) end.Apply(s);

            var qemu = Qemu.Of(left);
            foreach (var s in whole.Steps.Take(done)) qemu.Apply(s);
            var rest = ColoPlans.FailoverRemainder(s_config, site, qemu.Read(), Array.Empty<JsonObject>());
            foreach (var s in rest.Steps) qemu.Apply(s);

            Assert.Equal(end.State, qemu.State);
            // Nothing done twice (a wait for COLO to end is no step of its own once COLO has ended).
            static int Commands(IEnumerable<ColoStep> steps) => steps.Count(s => s.Kind != ColoStepKind.WaitForColoExit);
            Assert.Equal(Commands(whole.Steps.Skip(done)), Commands(rest.Steps));
            Assert.Empty(ColoPlans.FailoverRemainder(s_config, site, qemu.Read(), Array.Empty<JsonObject>()).Steps);
            Assert.True(qemu.Read().IsFinished(s_config, site));
            // Ready for a resume: a primary's chardevs, nothing of COLO left.
            Assert.Equal(ColoMode.None, qemu.Mode);
            Assert.Superset(new HashSet<string> { "mirror0", "compare1", "compare0", "compare0-0", "compare_out", "compare_out0" }, qemu.Chardevs);
            Assert.DoesNotContain("red0", qemu.Chardevs);
            Assert.Null(qemu.Child);
            Assert.False(qemu.Node);
        }

        [Fact]
        public void A_primary_out_of_COLO_is_not_sent_x_colo_lost_heartbeat()
        {
            var plan = ColoPlans.FailoverRemainder(s_config, ColoSite.A, FailoverLeftOver.FullPrimary("children.1") with { Mode = ColoMode.None }, Array.Empty<JsonObject>());
            Assert.DoesNotContain(plan.Steps, s => s.Command == "x-colo-lost-heartbeat" || s.Kind == ColoStepKind.WaitForColoExit);
            Assert.Equal("Primary failover", plan.Name);
        }

        [Theory]
        [InlineData("Secondary failover:5", "Secondary failover", 4, true)]
        [InlineData("secondary failover:5", "Secondary failover", 4, true)]
        [InlineData("Secondary failover:5", "Secondary failover", 3, false)]
        [InlineData("Secondary failover:5", "Primary failover", 4, false)]
        [InlineData("Secondary failover:0", "Secondary failover", 0, false)]
        [InlineData("garbage", "Secondary failover", 0, false)]
        [InlineData(null, "Secondary failover", 0, false)]
        public void The_crash_seam_fires_only_before_the_step_it_names(string? spec, string plan, int index, bool fires)
        {
            bool died = false;
            var hook = GuardCrashSeam.Parse(spec, () => died = true);
            hook?.Invoke(new ColoPlan(plan, "n", Array.Empty<ColoStep>()), index);
            Assert.Equal(fires, died);
        }

        [Fact]
        public async Task The_runner_calls_the_seam_before_each_step_so_a_crash_there_sends_nothing_more()
        {
            using var h = await QmpHarness.StartAsync();
            var plan = new ColoPlan("Secondary failover", "n", new[]
            {
                ColoStep.Qmp("nbd-server-stop", null, "one"),
                ColoStep.Qmp("x-colo-lost-heartbeat", null, "two"),
            });
            var hook = GuardCrashSeam.Parse("Secondary failover:2", () => throw new OperationCanceledException("killed"));
            var run = new ColoPlanRunner(h.Session, new ColoTimeouts(), null) { BeforeStep = hook }.RunAsync(plan, CancellationToken.None);
            var first = await h.Qemu.ReadCommandAsync();
            Assert.Equal("nbd-server-stop", first.Name);
            await h.Qemu.ReplyAsync(first);
            await Assert.ThrowsAsync<OperationCanceledException>(() => run.Within());
            Assert.True(await h.Qemu.NothingArrivesWithinAsync(TimeSpan.FromMilliseconds(200)));
        }
    }
}
