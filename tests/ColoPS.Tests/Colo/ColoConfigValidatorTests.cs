using System;
using System.Linq;
using ColoPS.Colo;
using Xunit;

namespace ColoPS.Tests.Colo
{
    public class ColoConfigValidatorTests
    {
        private static string[] Ids(ColoConfig c) => ColoConfigValidator.Validate(c, ColoHostFiles.None).Select(p => p.ErrorId).ToArray();

        [Fact]
        public void The_default_pair_is_valid() => Assert.Empty(Ids(ColoPlansTests.Config()));

        [Theory]
        [InlineData("0.0.0.0")]
        [InlineData("::")]
        [InlineData("host.example")]
        [InlineData("127.0.0.1,127.0.0.3")]
        public void Bad_addresses_are_refused(string address)
        {
            var c = ColoPlansTests.Config();
            c.SiteA.Address = address;
            Assert.Contains("ColoConfigInvalidAddress", Ids(c));
        }

        [Theory]
        [InlineData("/tmp/a,b")]
        [InlineData("/tmp/a b")]
        [InlineData("/tmp/a=b")]
        [InlineData("relative/dir")]
        public void Paths_that_would_break_option_syntax_are_refused(string dir)
        {
            var c = ColoPlansTests.Config();
            c.SiteB.WorkDirectory = dir;
            Assert.Contains("ColoConfigInvalidPath", Ids(c));
        }

        [Theory]
        [InlineData("52:54:00:12:34:56", true)]
        [InlineData("02:AB:cd:00:00:01", true)]
        [InlineData("01:00:5e:00:00:01", false)] // multicast
        [InlineData("ff:ff:ff:ff:ff:ff", false)] // broadcast
        [InlineData("00:00:00:00:00:00", false)]
        [InlineData("52-54-00-12-34-56", false)]
        [InlineData("52:54:00:12:34", false)]
        [InlineData("52:54:00:12:34:56,romfile=x", false)]
        [InlineData("", false)]
        public void Mac_address_must_be_a_plain_unicast_address(string mac, bool valid)
        {
            var c = ColoPlansTests.Config();
            c.Vm.MacAddress = mac;
            Assert.Equal(!valid, Ids(c).Contains("ColoConfigInvalidMacAddress"));
        }

        [Fact]
        public void Duplicate_ports_are_refused()
        {
            var c = ColoPlansTests.Config();
            c.Ports.Nbd = c.Ports.Migration;
            Assert.Contains("ColoConfigDuplicatePort", Ids(c));
        }

        [Fact]
        public void All_problems_are_reported_together()
        {
            var c = ColoPlansTests.Config();
            c.Name = "";
            c.Vm.MemoryMB = 1;
            c.Ports.Nbd = 0;
            var ex = Assert.Throws<ColoConfigException>(() => ColoConfigValidator.ThrowIfInvalid(c, ColoHostFiles.None));
            Assert.Equal("ColoConfigInvalidName", ex.ErrorId);
            Assert.Equal(3, ex.Problems.Count);
        }

        [Fact]
        public void Json_round_trip_keeps_everything_and_rejects_unknown_members()
        {
            var c = ColoPlansTests.Config();
            c.Tuning.CheckpointIntervalMs = 1234;
            var back = ColoConfigJson.Deserialize(ColoConfigJson.Serialize(c), "test");
            Assert.Equal(1234, back.Tuning.CheckpointIntervalMs);
            Assert.Equal("127.0.0.2", back.SiteB.Address);
            var ex = Assert.Throws<ColoException>(() => ColoConfigJson.Deserialize(@"{""Name"":""x"",""Bogus"":1}", "test"));
            Assert.Equal("ColoConfigInvalidJson", ex.ErrorId);
        }
    }
}
