using System.Linq;
using System.Text.Json.Nodes;
using ColoPS.Colo;
using ColoPS.Qemu;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>
    /// The plans against the procedure's own JSON. The procedure binds the primary's mirror and
    /// compare ports and the secondary's NBD server to 0.0.0.0; ColoPS binds the serving site's
    /// address instead, so the expected JSON below differs from the document only in those hosts.
    /// </summary>
    public class ColoPlansTests
    {
        // The procedure as written: 7.2 needs no return-path (QemuFeaturesTests covers 11).
        internal static readonly QemuFeatures V72 = QemuFeatures.Of(new QemuVersion(7, 2, 22));

        internal static ColoConfig Config() => new ColoConfig
        {
            Name = "demo",
            SiteA = new ColoSiteConfig { Address = "127.0.0.1", WorkDirectory = "/tmp/colo-a" },
            SiteB = new ColoSiteConfig { Address = "127.0.0.2", WorkDirectory = "/tmp/colo-b" },
        };

        /// <summary>The default pair with TLS on both sites (folders that need not exist: plans only name them).</summary>
        internal static ColoConfig TlsConfig()
        {
            var cfg = Config();
            cfg.Tls = new ColoTlsConfig
            {
                SiteA = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colo/A", ClientIdentity = "CN=demo-A-client" },
                SiteB = new ColoTlsSiteConfig { CertificateDirectory = "/etc/colo/B", ClientIdentity = "CN=demo-B-client" },
            };
            return cfg;
        }

        private static void AssertSteps(ColoPlan plan, params string[] expected)
        {
            var actual = plan.Steps.Where(s => s.Kind == ColoStepKind.Qmp || s.Kind == ColoStepKind.Hmp).ToList();
            Assert.Equal(expected.Length, actual.Count);
            for (int i = 0; i < expected.Length; i++)
            {
                var want = JsonNode.Parse(expected[i])!;
                var got = JsonNode.Parse(actual[i].ToJson())!;
                Assert.True(JsonNode.DeepEquals(want, got), $"step {i + 1}: expected {want.ToJsonString()} got {got.ToJsonString()}");
            }
        }

        [Fact]
        public void SecondaryPrepare_is_procedure_step_3_bound_to_the_site_address()
        {
            AssertSteps(ColoPlans.SecondaryPrepare(Config(), ColoSite.B, V72),
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"": {""capabilities"": [ {""capability"": ""x-colo"", ""state"": true } ] } }",
                @"{""execute"": ""nbd-server-start"", ""arguments"": {""addr"": {""type"": ""inet"", ""data"": {""host"": ""127.0.0.2"", ""port"": ""9999""} } } }",
                @"{""execute"": ""nbd-server-add"", ""arguments"": {""device"": ""parent0"", ""writable"": true } }");
        }

        [Fact]
        public void PrimaryProtect_is_procedure_step_4_and_waits_for_colo()
        {
            var plan = ColoPlans.PrimaryProtect(Config(), ColoSite.A, V72);
            AssertSteps(plan,
                @"{""execute"": ""human-monitor-command"", ""arguments"": {""command-line"": ""drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,file.host=127.0.0.2,file.port=9999,file.export=parent0,node-name=replication0""}}",
                @"{""execute"": ""x-blockdev-change"", ""arguments"":{""parent"": ""colo-disk0"", ""node"": ""replication0"" } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"": {""capabilities"": [ {""capability"": ""x-colo"", ""state"": true } ] } }",
                @"{""execute"": ""migrate"", ""arguments"": {""uri"": ""tcp:127.0.0.2:9998"" } }");
            Assert.Equal(ColoStepKind.WaitForColo, plan.Steps.Last().Kind);
        }

        [Fact]
        public void PrimaryProtect_sets_the_checkpoint_period_when_configured()
        {
            var cfg = Config();
            cfg.Tuning.CheckpointIntervalMs = 2000;
            var steps = ColoPlans.PrimaryProtect(cfg, ColoSite.A, V72).Steps.Select(s => s.ToJson()).ToList();
            Assert.Contains(@"{""execute"":""migrate-set-parameters"",""arguments"":{""x-checkpoint-delay"":2000}}", steps);
        }

        [Fact]
        public void PrimaryFailover_uses_the_child_name_it_is_given()
        {
            AssertSteps(ColoPlans.PrimaryFailover(Config(), ColoSite.A, "children.3", System.Array.Empty<JsonObject>()),
                @"{""execute"": ""x-blockdev-change"", ""arguments"":{ ""parent"": ""colo-disk0"", ""child"": ""children.3""} }",
                @"{""execute"": ""blockdev-del"", ""arguments"": { ""node-name"": ""replication0"" } }",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""comp0"" } }",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""iothread1"" } }",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""m0"" } }",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""redire0"" } }",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""redire1"" } }",
                @"{""execute"": ""x-colo-lost-heartbeat"" }");
        }

        [Fact]
        public void SecondaryFailover_readies_the_primary_chardevs_on_its_own_address()
        {
            AssertSteps(ColoPlans.SecondaryFailover(Config(), ColoSite.B, System.Array.Empty<JsonObject>()),
                @"{""execute"": ""nbd-server-stop""}",
                @"{""execute"": ""x-colo-lost-heartbeat""}",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""f2"" } }",
                @"{""execute"": ""object-del"", ""arguments"":{ ""id"": ""f1"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"":{ ""id"": ""red1"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"":{ ""id"": ""red0"" } }",
                @"{""execute"": ""chardev-add"", ""arguments"":{ ""id"": ""mirror0"", ""backend"":{""type"": ""socket"", ""data"": {""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9003"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"":{ ""id"": ""compare1"", ""backend"": {""type"": ""socket"", ""data"": {""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9004"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"":{ ""id"": ""compare0"", ""backend"": {""type"": ""socket"", ""data"": {""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9001"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"":{ ""id"": ""compare0-0"", ""backend"": {""type"": ""socket"", ""data"": {""addr"": { ""type"": ""inet"", ""data"": { ""host"":""127.0.0.2"", ""port"": ""9001"" } }, ""server"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"":{ ""id"": ""compare_out"", ""backend"": {""type"": ""socket"", ""data"": {""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9005"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"":{ ""id"": ""compare_out0"", ""backend"": {""type"": ""socket"", ""data"": {""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9005"" } }, ""server"": false } } } }");
        }

        [Fact]
        public void Failover_plans_yank_out_of_band_first()
        {
            var yank = new[] { new JsonObject { ["type"] = "migration" } };
            var plan = ColoPlans.SecondaryFailover(Config(), ColoSite.B, yank);
            Assert.True(plan.Steps[0].OutOfBand);
            Assert.Equal(@"{""exec-oob"":""yank"",""arguments"":{""instances"":[{""type"":""migration""}]}}", plan.Steps[0].ToJson());
        }

        [Fact]
        public void Resume_after_secondary_failover_is_the_secondary_resume_of_the_procedure()
        {
            // The survivor at B was a secondary: filters go before rew0; the new secondary is at A.
            AssertSteps(ColoPlans.Resume(Config(), ColoSite.B, insertBeforeRewriter: true, V72),
                @"{""execute"": ""drive-mirror"", ""arguments"":{ ""device"": ""colo-disk0"", ""job-id"": ""resync"", ""target"": ""nbd://127.0.0.1:9999/parent0"", ""mode"": ""existing"", ""format"": ""raw"", ""sync"": ""full""} }",
                @"{""execute"": ""stop""}",
                @"{""execute"": ""block-job-cancel"", ""arguments"":{ ""device"": ""resync"" } }",
                @"{""execute"": ""human-monitor-command"", ""arguments"":{""command-line"": ""drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,file.host=127.0.0.1,file.port=9999,file.export=parent0,node-name=replication0""}}",
                @"{""execute"": ""x-blockdev-change"", ""arguments"":{ ""parent"": ""colo-disk0"", ""node"": ""replication0"" } }",
                // Not in the procedure: fresh compare loops, so nothing left in them reaches colo-compare.
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare0-0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare_out0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare_out"" } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9001"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare0-0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9001"" } }, ""server"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare_out"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9005"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare_out0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9005"" } }, ""server"": false } } } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""filter-mirror"",""id"": ""m0"", ""insert"": ""before"", ""position"": ""id=rew0"", ""netdev"": ""hn0"", ""queue"": ""tx"", ""outdev"": ""mirror0"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""filter-redirector"", ""id"": ""redire0"", ""insert"": ""before"", ""position"": ""id=rew0"", ""netdev"": ""hn0"", ""queue"": ""rx"", ""indev"": ""compare_out"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""filter-redirector"", ""id"": ""redire1"", ""insert"": ""before"", ""position"": ""id=rew0"", ""netdev"": ""hn0"", ""queue"": ""rx"", ""outdev"": ""compare0"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""iothread"", ""id"": ""iothread1"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""colo-compare"", ""id"": ""comp0"", ""primary_in"": ""compare0-0"", ""secondary_in"": ""compare1"", ""outdev"": ""compare_out0"", ""iothread"": ""iothread1"" } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"":{ ""capabilities"": [ {""capability"": ""x-colo"", ""state"": true } ] } }",
                @"{""execute"": ""migrate"", ""arguments"":{ ""uri"": ""tcp:127.0.0.1:9998"" } }");
        }

        [Fact]
        public void Resume_after_primary_failover_is_the_primary_resume_of_the_procedure()
        {
            // The survivor at A was the primary: no rewriter, filters without a position; the new secondary is at B.
            AssertSteps(ColoPlans.Resume(Config(), ColoSite.A, insertBeforeRewriter: false, V72),
                @"{""execute"": ""drive-mirror"", ""arguments"":{ ""device"": ""colo-disk0"", ""job-id"": ""resync"", ""target"": ""nbd://127.0.0.2:9999/parent0"", ""mode"": ""existing"", ""format"": ""raw"", ""sync"": ""full""} }",
                @"{""execute"": ""stop""}",
                @"{""execute"": ""block-job-cancel"", ""arguments"":{ ""device"": ""resync"" } }",
                @"{""execute"": ""human-monitor-command"", ""arguments"":{""command-line"": ""drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,file.host=127.0.0.2,file.port=9999,file.export=parent0,node-name=replication0""}}",
                @"{""execute"": ""x-blockdev-change"", ""arguments"":{ ""parent"": ""colo-disk0"", ""node"": ""replication0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare0-0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare_out0"" } }",
                @"{""execute"": ""chardev-remove"", ""arguments"": { ""id"": ""compare_out"" } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.1"", ""port"": ""9001"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare0-0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.1"", ""port"": ""9001"" } }, ""server"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare_out"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.1"", ""port"": ""9005"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare_out0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.1"", ""port"": ""9005"" } }, ""server"": false } } } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""filter-mirror"", ""id"": ""m0"", ""netdev"": ""hn0"", ""queue"": ""tx"", ""outdev"": ""mirror0"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""filter-redirector"", ""id"": ""redire0"", ""netdev"": ""hn0"", ""queue"": ""rx"", ""indev"": ""compare_out"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""filter-redirector"", ""id"": ""redire1"", ""netdev"": ""hn0"", ""queue"": ""rx"", ""outdev"": ""compare0"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""iothread"", ""id"": ""iothread1"" } }",
                @"{""execute"": ""object-add"", ""arguments"":{ ""qom-type"": ""colo-compare"", ""id"": ""comp0"", ""primary_in"": ""compare0-0"", ""secondary_in"": ""compare1"", ""outdev"": ""compare_out0"", ""iothread"": ""iothread1"" } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"":{ ""capabilities"": [ {""capability"": ""x-colo"", ""state"": true } ] } }",
                @"{""execute"": ""migrate"", ""arguments"":{ ""uri"": ""tcp:127.0.0.2:9998"" } }");
        }

        [Fact]
        public void Resume_on_a_primary_that_never_was_a_secondary_adds_filters_without_position()
        {
            var steps = ColoPlans.Resume(Config(), ColoSite.A, insertBeforeRewriter: false, V72).Steps.Select(s => s.ToJson()).ToList();
            Assert.Contains(@"{""execute"":""object-add"",""arguments"":{""qom-type"":""filter-mirror"",""id"":""m0"",""netdev"":""hn0"",""queue"":""tx"",""outdev"":""mirror0""}}", steps);
            Assert.Contains(@"{""execute"":""drive-mirror"",""arguments"":{""device"":""colo-disk0"",""job-id"":""resync"",""target"":""nbd://127.0.0.2:9999/parent0"",""mode"":""existing"",""format"":""raw"",""sync"":""full""}}", steps);
            Assert.DoesNotContain(steps, s => s.Contains("rew0"));
        }

        [Fact]
        public void Resume_waits_for_the_mirror_and_for_colo()
        {
            var kinds = ColoPlans.Resume(Config(), ColoSite.A, false, V72).Steps.Select(s => s.Kind).ToList();
            // The new secondary on the mirror and compare sockets first, then the disk copy.
            Assert.Equal(ColoStepKind.WaitForPeerChardevs, kinds[0]);
            Assert.Equal(ColoStepKind.WaitForJobReady, kinds[2]);
            Assert.Equal(ColoStepKind.WaitForJobGone, kinds[5]);
            Assert.Equal(ColoStepKind.WaitForColo, kinds.Last());
        }

        [Fact]
        public void ResumeRollback_undoes_replication_and_filters_then_runs_the_vm()
        {
            var yank = new[] { new JsonObject { ["type"] = "block-node", ["node-name"] = "replication0" } };
            var present = new[] { "comp0", "iothread1", "m0", "redire0", "redire1", "rew0" };
            var plan = ColoPlans.ResumeRollback(Config(), ColoSite.B, mirrorJobPresent: false, replicationChild: "children.2", present, CompareLoopChardevs, yank, paused: true);
            Assert.True(plan.Steps[0].OutOfBand);
            AssertSteps(plan,
                @"{""exec-oob"": ""yank"", ""arguments"": { ""instances"": [ { ""type"": ""block-node"", ""node-name"": ""replication0"" } ] } }",
                @"{""execute"": ""x-blockdev-change"", ""arguments"": { ""parent"": ""colo-disk0"", ""child"": ""children.2"" } }",
                @"{""execute"": ""blockdev-del"", ""arguments"": { ""node-name"": ""replication0"" } }",
                @"{""execute"": ""object-del"", ""arguments"": { ""id"": ""comp0"" } }",
                @"{""execute"": ""object-del"", ""arguments"": { ""id"": ""iothread1"" } }",
                @"{""execute"": ""object-del"", ""arguments"": { ""id"": ""m0"" } }",
                @"{""execute"": ""object-del"", ""arguments"": { ""id"": ""redire0"" } }",
                @"{""execute"": ""object-del"", ""arguments"": { ""id"": ""redire1"" } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"": { ""capabilities"": [ { ""capability"": ""x-colo"", ""state"": false } ] } }",
                @"{""execute"": ""cont""}");
        }

        [Fact]
        public void ResumeRollback_makes_again_the_compare_loop_chardevs_a_failed_renewal_removed()
        {
            // The resume failed between its chardev-remove and chardev-add steps: compare0 and its
            // client are gone, the out loop stands.
            var plan = ColoPlans.ResumeRollback(Config(), ColoSite.B, mirrorJobPresent: false, replicationChild: null, new[] { "rew0" }, new[] { "mirror0", "compare1", "compare_out", "compare_out0" }, System.Array.Empty<JsonObject>(), paused: true);
            AssertSteps(plan,
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9001"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare0-0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.2"", ""port"": ""9001"" } }, ""server"": false } } } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"": { ""capabilities"": [ { ""capability"": ""x-colo"", ""state"": false } ] } }",
                @"{""execute"": ""cont""}");
        }

        [Fact]
        public void ResumeRollback_makes_again_the_mirror_and_compare_sockets_a_failed_renewal_removed()
        {
            // The resume failed right after closing the stale listeners: mirror0 and compare1 are
            // gone, so the survivor could never be re-protected without them.
            var plan = ColoPlans.ResumeRollback(Config(), ColoSite.A, mirrorJobPresent: false, replicationChild: null, System.Array.Empty<string>(), new[] { "compare0", "compare0-0", "compare_out", "compare_out0" }, System.Array.Empty<JsonObject>(), paused: false);
            AssertSteps(plan,
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""mirror0"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.1"", ""port"": ""9003"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""chardev-add"", ""arguments"": { ""id"": ""compare1"", ""backend"": { ""type"": ""socket"", ""data"": { ""addr"": { ""type"": ""inet"", ""data"": { ""host"": ""127.0.0.1"", ""port"": ""9004"" } }, ""server"": true, ""wait"": false } } } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"": { ""capabilities"": [ { ""capability"": ""x-colo"", ""state"": false } ] } }");
        }

        [Fact]
        public void SecondaryFailover_with_TLS_readies_the_peer_facing_chardevs_with_credentials_and_authz_and_the_loops_plain()
        {
            var cfg = TlsConfig();
            var added = ColoPlans.SecondaryFailover(cfg, ColoSite.B, System.Array.Empty<JsonObject>()).Steps
                .Where(s => s.Command == "chardev-add").ToDictionary(s => (string)s.Arguments!["id"]!, s => s.Arguments!["backend"]!["data"]!);
            foreach (var peerFacing in new[] { "mirror0", "compare1" })
            {
                Assert.Equal("tls-server0", (string?)added[peerFacing]["tls-creds"]);
                Assert.Equal("authz0", (string?)added[peerFacing]["tls-authz"]);
                Assert.Equal("127.0.0.2", (string?)added[peerFacing]["addr"]!["data"]!["host"]);
            }
            // colo-compare's loops never leave the host: no TLS, on loopback.
            foreach (var loop in new[] { "compare0", "compare0-0", "compare_out", "compare_out0" })
            {
                Assert.Null(added[loop]["tls-creds"]);
                Assert.Null(added[loop]["tls-authz"]);
            }
        }

        [Fact]
        public void Resume_renews_stale_peer_sockets_with_TLS_and_waits_for_the_secondary_before_the_disk_copy()
        {
            var cfg = TlsConfig();
            var steps = ColoPlans.Resume(cfg, ColoSite.A, insertBeforeRewriter: false, V72, new[] { "mirror0", "compare1" }).Steps;
            int add = steps.ToList().FindIndex(s => s.Command == "chardev-add" && (string?)s.Arguments!["id"] == "mirror0");
            int wait = steps.ToList().FindIndex(s => s.Kind == ColoStepKind.WaitForPeerChardevs);
            int copy = steps.ToList().FindIndex(s => s.Command == "drive-mirror");
            int filter = steps.ToList().FindIndex(s => s.Command == "object-add");
            Assert.True(add >= 0 && add < wait && wait < copy && copy < filter, $"order: add {add}, wait {wait}, copy {copy}, filters {filter}");
            var data = steps[add].Arguments!["backend"]!["data"]!;
            Assert.Equal("tls-server0", (string?)data["tls-creds"]);
            Assert.Equal("authz0", (string?)data["tls-authz"]);
            Assert.Equal("127.0.0.1", (string?)data["addr"]!["data"]!["host"]);
        }

        [Fact]
        public void Resume_renews_only_the_socket_a_peer_left_and_leaves_the_secondarys_own()
        {
            var steps = ColoPlans.Resume(Config(), ColoSite.A, insertBeforeRewriter: false, V72, new[] { "compare1" }).Steps.Take(3).ToList();
            Assert.Equal(@"{""execute"":""chardev-remove"",""arguments"":{""id"":""compare1""}}", steps[0].ToJson());
            Assert.Equal(@"{""execute"":""chardev-add"",""arguments"":{""id"":""compare1"",""backend"":{""type"":""socket"",""data"":{""addr"":{""type"":""inet"",""data"":{""host"":""127.0.0.1"",""port"":""9004""}},""server"":true,""wait"":false}}}}", steps[1].ToJson());
            Assert.Equal(ColoStepKind.WaitForPeerChardevs, steps[2].Kind);
            Assert.DoesNotContain(ColoPlans.Resume(Config(), ColoSite.A, false, V72, new[] { "compare1" }).Steps, st => st.ToJson().Contains(@"""id"":""mirror0""}", System.StringComparison.Ordinal) && st.Command == "chardev-remove");
        }

        private static readonly string[] CompareLoopChardevs = { "mirror0", "compare1", "compare0", "compare0-0", "compare_out", "compare_out0" };

        [Fact]
        public void ResumeRollback_removes_only_what_the_failed_resume_left()
        {
            // Failed in the disk copy: the job is still there, nothing else was added; rew0 (the
            // survivor's own, from when it was a secondary) is never touched.
            var plan = ColoPlans.ResumeRollback(Config(), ColoSite.A, mirrorJobPresent: true, replicationChild: null, new[] { "rew0" }, CompareLoopChardevs, System.Array.Empty<JsonObject>(), paused: false);
            AssertSteps(plan,
                @"{""execute"": ""block-job-cancel"", ""arguments"": { ""device"": ""resync"", ""force"": true } }",
                @"{""execute"": ""migrate-set-capabilities"", ""arguments"": { ""capabilities"": [ { ""capability"": ""x-colo"", ""state"": false } ] } }");
        }

        [Fact]
        public void Plans_follow_port_overrides()
        {
            var cfg = Config();
            cfg.Ports.Nbd = 19999;
            cfg.Ports.Migration = 19998;
            var text = ColoPlans.PrimaryProtect(cfg, ColoSite.A, V72).ToText();
            Assert.Contains("file.port=19999", text);
            Assert.Contains("tcp:127.0.0.2:19998", text);
        }
    }
}
