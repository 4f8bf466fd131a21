using System.Linq;
using ColoPS.Colo;
using Xunit;

namespace ColoPS.Tests.Colo
{
    public class ColoGuardConfigTests
    {
        private static string[] Ids(ColoConfig c) => ColoConfigValidator.Validate(c, ColoHostFiles.None).Select(p => p.ErrorId).ToArray();

        private static ColoConfig Guarded()
        {
            var c = ColoPlansTests.Config();
            c.Witness = new ColoWitnessConfig { Endpoints = new[] { "http://127.0.0.1:2379", "https://10.0.0.5:2379" } };
            c.FencingHook = "/usr/local/bin/fence-peer";
            return c;
        }

        [Fact]
        public void A_guarded_pair_with_defaults_is_valid()
        {
            var c = Guarded();
            Assert.Empty(Ids(c));
            Assert.Equal(2, c.Witness!.LeaseTtlSeconds);
            Assert.Equal(500, c.Witness.FenceMargin.TotalMilliseconds);
            Assert.Equal(c.Name, c.Witness.PairName(c));
        }

        [Theory]
        [InlineData("127.0.0.1:2379")]
        [InlineData("ftp://127.0.0.1:2379")]
        [InlineData("http://127.0.0.1:2379/v3/kv")]
        [InlineData("not a url")]
        public void Bad_endpoints_are_refused(string endpoint)
        {
            var c = Guarded();
            c.Witness!.Endpoints = new[] { endpoint };
            Assert.Contains("ColoConfigInvalidWitnessEndpoint", Ids(c));
        }

        [Fact]
        public void No_endpoint_and_a_duplicate_are_refused()
        {
            var c = Guarded();
            c.Witness!.Endpoints = new string[0];
            Assert.Contains("ColoConfigInvalidWitnessEndpoint", Ids(c));
            c.Witness.Endpoints = new[] { "http://127.0.0.1:2379", "http://127.0.0.1:2379" };
            Assert.Contains("ColoConfigInvalidWitnessEndpoint", Ids(c));
        }

        [Fact]
        public void A_heartbeat_port_is_a_port_and_not_one_of_the_COLO_ports()
        {
            var c = Guarded();
            c.Witness!.HeartbeatPort = 9006;
            Assert.Empty(Ids(c));
            c.Witness.HeartbeatPort = 0;
            Assert.Contains("ColoConfigInvalidPort", Ids(c));
            c.Witness.HeartbeatPort = 70000;
            Assert.Contains("ColoConfigInvalidPort", Ids(c));
            c.Witness.HeartbeatPort = c.Ports.Migration;
            Assert.Contains("ColoConfigInvalidPort", Ids(c));
        }

        [Theory]
        [InlineData(1, null, "ColoConfigInvalidWitnessTiming")]
        [InlineData(61, null, "ColoConfigInvalidWitnessTiming")]
        [InlineData(2, 1000, "ColoConfigInvalidWitnessTiming")]
        [InlineData(2, 50, "ColoConfigInvalidWitnessTiming")]
        public void Lease_timing_that_cannot_fence_in_time_is_refused(int ttl, int? margin, string id)
        {
            var c = Guarded();
            c.Witness!.LeaseTtlSeconds = ttl;
            c.Witness.FenceMarginMs = margin;
            Assert.Contains(id, Ids(c));
        }

        [Theory]
        [InlineData("a/b")]
        [InlineData("a\nb")]
        public void A_pair_name_that_breaks_the_key_prefix_is_refused(string pair)
        {
            var c = Guarded();
            c.Witness!.Pair = pair;
            Assert.Contains("ColoConfigInvalidWitnessPair", Ids(c));
        }

        [Theory]
        [InlineData("")]
        [InlineData("fence\nrm -rf /")]
        public void A_bad_fencing_hook_is_refused(string hook)
        {
            var c = Guarded();
            c.FencingHook = hook;
            Assert.Contains("ColoConfigInvalidFencingHook", Ids(c));
        }

        [Fact]
        public void A_fencing_hook_without_a_witness_is_refused()
        {
            var c = Guarded();
            c.Witness = null;
            Assert.Equal(new[] { "ColoConfigMissingWitness" }, Ids(c));
        }

        [Fact]
        public void The_guard_sections_survive_a_json_round_trip()
        {
            var c = Guarded();
            c.Witness!.Pair = "pair1";
            c.Witness.FenceMarginMs = 400;
            c.FencingHookTimeoutSeconds = 3;
            var back = ColoConfigJson.Deserialize(ColoConfigJson.Serialize(c), "test");
            Assert.Equal(c.Witness.Endpoints, back.Witness!.Endpoints);
            Assert.Equal("pair1", back.Witness.Pair);
            Assert.Equal(400, back.Witness.FenceMarginMs);
            Assert.Equal(c.FencingHook, back.FencingHook);
            Assert.Equal(3, back.FencingHookTimeoutSeconds);
            Assert.Null(ColoConfigJson.Deserialize(ColoConfigJson.Serialize(ColoPlansTests.Config()), "test").Witness);
        }
    }
}
