using System;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Operations;
using ColoPS.Qemu;
using ColoPS.Qemu.States;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo.Operations
{
    /// <summary>
    /// The decisions of failover, resume, attach and roll-back, from what QEMU reported. The node's
    /// session is a real session to a fake monitor that is never asked anything: the decisions read
    /// only the snapshot and the leftovers given.
    /// </summary>
    public class OperationDecisionTests : IAsyncLifetime
    {
        private QmpHarness _qmp = null!;

        public async Task InitializeAsync() => _qmp = await QmpHarness.StartAsync();
        public Task DisposeAsync() { _qmp.Dispose(); return Task.CompletedTask; }

        private ColoNode Node(ColoSite site, ColoRole role, string version = "11.1.3")
            => new ColoNode(ColoPlansTests.Config(), site, role, 4242, _qmp.Session, QemuVersion.Parse(version), ColoAccelerator.Tcg);

        private static QemuSnapshot Snapshot(string mode, string lastMode = "none", string run = "running", string migration = "colo")
            => new QemuSnapshot(RunState.Parse(run), ColoMode.Parse(mode), ColoMode.Parse(lastMode), ColoExitReason.None, MigrationStatus.Parse(migration));

        [Theory]
        [InlineData("secondary", "none", ColoRole.Secondary, ColoRole.Secondary)]
        [InlineData("primary", "none", ColoRole.Primary, ColoRole.Primary)]
        // The primary left COLO by itself when its secondary died: the procedure's clean-up still applies.
        [InlineData("none", "primary", ColoRole.Primary, ColoRole.Primary)]
        [InlineData("none", "secondary", ColoRole.Secondary, ColoRole.Secondary)]
        public void The_failover_follows_the_survivors_own_colo_mode(string mode, string lastMode, ColoRole nodeRole, ColoRole expected)
            => Assert.Equal(expected, FailoverDecision.RoleToFailOver(Node(ColoSite.B, nodeRole), Snapshot(mode, lastMode)));

        [Theory]
        [InlineData("none", "none", ColoRole.Primary)]
        // Already failed over by ColoPS: the last mode no longer asks for a clean-up.
        [InlineData("none", "primary", ColoRole.Standalone)]
        public void A_node_out_of_colo_has_nothing_to_fail_over(string mode, string lastMode, ColoRole nodeRole)
        {
            var ex = Assert.Throws<ColoException>(() => FailoverDecision.RoleToFailOver(Node(ColoSite.B, nodeRole), Snapshot(mode, lastMode)));
            Assert.Equal("ColoNotProtected", ex.ErrorId);
            Assert.Equal(ColoErrorKind.InvalidState, ex.Kind);
        }

        [Fact]
        public void A_secondary_takes_over_a_primary_drops_the_replication_child_it_really_has()
        {
            var yank = new[] { new JsonObject { ["type"] = "migration" } };
            var secondary = FailoverDecision.Plan(Node(ColoSite.B, ColoRole.Secondary), ColoRole.Secondary, null, yank);
            Assert.Equal("Secondary failover", secondary.Name);
            Assert.Contains(secondary.Steps, s => s.Command == "x-colo-lost-heartbeat");
            Assert.Equal("yank", secondary.Steps[0].Command);

            var primary = FailoverDecision.Plan(Node(ColoSite.A, ColoRole.Primary), ColoRole.Primary, "children.2", yank);
            Assert.Equal("Primary failover", primary.Name);
            var detach = primary.Steps.Single(s => s.Command == "x-blockdev-change");
            Assert.Equal("children.2", (string)detach.Arguments!["child"]!);
            Assert.Contains(primary.Steps, s => s.Command == "blockdev-del" && (string)s.Arguments!["node-name"]! == "replication0");

            var ex = Assert.Throws<ColoException>(() => FailoverDecision.Plan(Node(ColoSite.A, ColoRole.Primary), ColoRole.Primary, null, yank));
            Assert.Equal("ColoReplicationChildNotFound", ex.ErrorId);
        }

        [Theory]
        [InlineData(true, false, true)]
        [InlineData(true, true, false)]
        [InlineData(false, false, false)]
        public void A_peer_that_still_answers_is_refused_unless_forced(bool answers, bool force, bool refused)
        {
            var node = Node(ColoSite.B, ColoRole.Secondary);
            var plan = new FailoverPlan(FailoverDecision.Plan(node, ColoRole.Secondary, null, Array.Empty<JsonObject>()), ColoRole.Secondary,
                new PeerProbeResult(answers, answers ? "it answers QMP (run state running)" : "no process, no QMP socket"));
            var ex = Record.Exception(() => FailoverDecision.ThrowIfPeerAlive(node, plan, force));
            if (!refused) { Assert.Null(ex); return; }
            var colo = Assert.IsType<ColoException>(ex);
            Assert.Equal("ColoPeerStillAlive", colo.ErrorId);
            Assert.Equal(ColoErrorKind.InvalidState, colo.Kind);
            Assert.Contains("it answers QMP", colo.Message);
        }

        [Theory]
        [InlineData("primary", "none", "running", ColoRole.Primary)]
        [InlineData("secondary", "none", "colo", ColoRole.Secondary)]
        [InlineData("none", "none", "inmigrate", ColoRole.Secondary)]
        [InlineData("none", "secondary", "running", ColoRole.Standalone)]
        public void An_attached_qemu_gets_the_role_it_plays(string mode, string lastMode, string run, ColoRole expected)
            => Assert.Equal(expected, AttachOperation.RoleOf(Snapshot(mode, lastMode, run)));

        [Fact]
        public void A_resume_is_refused_for_the_wrong_secondary_a_broken_qemu_or_a_survivor_still_in_colo()
        {
            var survivor = Node(ColoSite.B, ColoRole.Standalone);
            Assert.Equal("ColoSameSite", Assert.Throws<ColoException>(() => ResumeOperation.Check(survivor, Node(ColoSite.B, ColoRole.Secondary), ColoMode.None)).ErrorId);
            Assert.Equal("ColoNotSecondary", Assert.Throws<ColoException>(() => ResumeOperation.Check(survivor, Node(ColoSite.A, ColoRole.Primary), ColoMode.None)).ErrorId);
            Assert.Equal("ColoQemuVersionUnsupported", Assert.Throws<ColoException>(() => ResumeOperation.Check(Node(ColoSite.B, ColoRole.Standalone, "10.0.2"), null, ColoMode.None)).ErrorId);
            Assert.Equal("ColoStillProtected", Assert.Throws<ColoException>(() => ResumeOperation.Check(survivor, null, ColoMode.Primary)).ErrorId);
            ResumeOperation.Check(survivor, Node(ColoSite.A, ColoRole.Secondary), ColoMode.None);
        }

        private static ColoLeftOver Left(bool mirror = false, string? child = null, string run = "running", string[]? objects = null, string[]? chardevs = null)
            => new ColoLeftOver(mirror, child, new[] { new JsonObject { ["type"] = "block-node", ["node-name"] = "#block123" } }, RunState.Parse(run),
                objects ?? Array.Empty<string>(), chardevs ?? new[] { "compare0", "compare0-0", "compare_out", "compare_out0" });

        [Fact]
        public void A_resume_roll_back_removes_exactly_what_the_qemu_still_holds()
        {
            var survivor = Node(ColoSite.B, ColoRole.Standalone);
            var plan = RollbackOperation.PlanResume(survivor, Left(mirror: true, child: "children.1", run: "paused", objects: new[] { "rew0", "m0", "comp0" }, chardevs: new[] { "compare0", "compare0-0" }));
            var steps = plan.Steps.Select(s => s.ToJson()).ToList();
            Assert.StartsWith("{\"exec-oob\":\"yank\"", steps[0]);
            Assert.Contains("{\"execute\":\"block-job-cancel\",\"arguments\":{\"device\":\"resync\",\"force\":true}}", steps);
            Assert.Contains("{\"execute\":\"x-blockdev-change\",\"arguments\":{\"parent\":\"colo-disk0\",\"child\":\"children.1\"}}", steps);
            Assert.Contains("{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"replication0\"}}", steps);
            // Its own rewriter stays (it was a secondary once); the resume's filters go, colo-compare first.
            Assert.DoesNotContain(steps, s => s.Contains("\"rew0\""));
            Assert.True(steps.IndexOf("{\"execute\":\"object-del\",\"arguments\":{\"id\":\"comp0\"}}") < steps.IndexOf("{\"execute\":\"object-del\",\"arguments\":{\"id\":\"m0\"}}"));
            // The compare loop chardevs the resume had dropped are made again.
            Assert.Contains(plan.Steps, s => s.Command == "chardev-add" && (string)s.Arguments!["id"]! == "compare_out");
            Assert.DoesNotContain(plan.Steps, s => s.Command == "chardev-add" && (string)s.Arguments!["id"]! == "compare0");
            Assert.Equal("{\"execute\":\"cont\"}", steps[^1]);
        }

        [Fact]
        public void A_start_roll_back_on_the_callers_qemu_keeps_its_own_filters_and_runs_a_paused_vm_again()
        {
            var primary = Node(ColoSite.A, ColoRole.Primary);
            var paused = RollbackOperation.PlanStart(primary, Left(child: "children.1", run: "postmigrate", objects: new[] { "comp0", "m0" })).Steps.Select(s => s.Command).ToList();
            Assert.Equal(new[] { "yank", "x-blockdev-change", "blockdev-del", "migrate-set-capabilities", "cont" }, paused);
            var running = RollbackOperation.PlanStart(primary, Left(run: "running")).Steps.Select(s => s.Command).ToList();
            Assert.Equal(new[] { "yank", "migrate-set-capabilities" }, running);
        }
    }
}
