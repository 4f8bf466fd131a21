using System;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks;
using ColoPS.Witness;
using Xunit;

namespace ColoPS.Tests.Witness
{
    // No etcd needed: what the client says when nobody is there, and its input checks.
    public sealed class EtcdClientOfflineTests
    {
        private static Uri DeadEndpoint()
        {
            // A port that was free a moment ago on a loopback address nothing else uses.
            var ip = IPAddress.Parse("127.0.0.54");
            using var l = new TcpListener(ip, 0);
            l.Start();
            return new Uri($"http://{ip}:{((IPEndPoint)l.LocalEndpoint).Port}/");
        }

        [Fact]
        public async Task NoMemberListening_IsUnreachable_WithinTheCallBudget()
        {
            // Attempts longer than a refusal can take even with the whole suite running in parallel:
            // an attempt cut short by its own timeout would (rightly) make the call a timeout.
            using var client = new EtcdClient(new EtcdClientOptions(new[] { DeadEndpoint(), DeadEndpoint() }) { CallTimeout = TimeSpan.FromSeconds(2), AttemptTimeout = TimeSpan.FromMilliseconds(1500) });
            var sw = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<WitnessException>(() => client.GrantLeaseAsync(TimeSpan.FromSeconds(2)));
            Assert.Equal(WitnessErrorKind.Unreachable, e.Kind);
            Assert.True(e.IsTransient);
            Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(1900), TimeSpan.FromSeconds(5));
        }

        [Fact]
        public async Task AMemberThatAcceptsButNeverAnswers_IsATimeout()
        {
            var ip = IPAddress.Parse("127.0.0.54");
            using var l = new TcpListener(ip, 0);
            l.Start(); // accepts into the backlog, never answers
            var url = new Uri($"http://{ip}:{((IPEndPoint)l.LocalEndpoint).Port}/");
            using var client = new EtcdClient(new EtcdClientOptions(new[] { url }) { CallTimeout = TimeSpan.FromMilliseconds(600), AttemptTimeout = TimeSpan.FromMilliseconds(200) });
            var e = await Assert.ThrowsAsync<WitnessException>(() => client.GetAsync("/colops/"));
            Assert.Equal(WitnessErrorKind.Timeout, e.Kind);
            Assert.Equal("WitnessTimeout", e.ErrorId);
        }

        [Fact]
        public void Options_RefuseNoEndpointOrARelativeOne()
        {
            Assert.Throws<ArgumentException>(() => new EtcdClientOptions(Array.Empty<Uri>()));
            Assert.Throws<ArgumentException>(() => new EtcdClientOptions(new[] { new Uri("unix:/tmp/x") }));
        }

        [Theory]
        [InlineData("")]
        [InlineData("a/b")]
        public void PairName_ThatWouldBreakThePrefix_IsRefused(string name)
        {
            using var client = new EtcdClient(new EtcdClientOptions(new[] { new Uri("http://127.0.0.54:2379/") }));
            Assert.Throws<ArgumentException>(() => new PairWitness(client, name));
        }

        [Fact]
        public void PairPrefix_EndsWithASlash_SoPairsDoNotOverlap()
        {
            using var client = new EtcdClient(new EtcdClientOptions(new[] { new Uri("http://127.0.0.54:2379/") }));
            Assert.Equal("/colops/web/", new PairWitness(client, "web").Prefix);
            Assert.Equal("/colops/web/epoch", new PairWitness(client, "web").EpochKey);
        }

        [Theory]
        [InlineData("/colops/a/", "/colops/a0")]
        [InlineData("/colops/", "/colops0")]
        public void PrefixEnd_IsTheNextKeyAfterEveryKeyWithThePrefix(string prefix, string expected)
        {
            Assert.Equal(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(expected)), EtcdJson.PrefixEnd(prefix));
        }
    }
}
