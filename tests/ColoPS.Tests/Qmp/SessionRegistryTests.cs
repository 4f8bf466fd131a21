using System.Threading.Tasks;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Qmp
{
    public class SessionRegistryTests
    {
        [Fact] // the registry numbers sessions like PSSessions, names unnamed ones, and forgets them on Remove
        public async Task Registry_NumbersNamesAndForgetsSessions()
        {
            using var a = await QmpHarness.StartAsync();
            using var b = await QmpHarness.StartAsync(options: new QmpSessionOptions { Name = "primary" });
            try
            {
                Assert.Same(a.Session, QmpSessionRegistry.Add(a.Session));
                int idA = a.Session.Id;
                Assert.Same(a.Session, QmpSessionRegistry.Add(a.Session)); // idempotent
                Assert.Equal(idA, a.Session.Id);
                QmpSessionRegistry.Add(b.Session);
                Assert.True(b.Session.Id > idA);
                Assert.Equal("Qmp" + idA, a.Session.Name);
                Assert.Equal("primary", b.Session.Name);
                Assert.Contains(a.Session, QmpSessionRegistry.GetAll());
            }
            finally
            {
                Assert.True(QmpSessionRegistry.Remove(a.Session));
                Assert.True(QmpSessionRegistry.Remove(b.Session));
            }
            Assert.False(QmpSessionRegistry.Remove(a.Session));
            Assert.DoesNotContain(b.Session, QmpSessionRegistry.GetAll());
        }

        [Fact] // a node started again takes its name over from the dead session, never beside a live one
        public async Task Registry_ReplacesADeadSessionOfTheSameNameOnly()
        {
            string name = "node-" + System.Guid.NewGuid().ToString("N");
            using var old = await QmpHarness.StartAsync(options: new QmpSessionOptions { Name = name });
            using var live = await QmpHarness.StartAsync(options: new QmpSessionOptions { Name = name });
            using var next = await QmpHarness.StartAsync(options: new QmpSessionOptions { Name = name });
            try
            {
                QmpSessionRegistry.Add(old.Session);
                old.Session.Dispose();
                QmpSessionRegistry.Add(live.Session);
                Assert.DoesNotContain(old.Session, QmpSessionRegistry.GetAll());
                QmpSessionRegistry.Add(next.Session);
                Assert.Contains(live.Session, QmpSessionRegistry.GetAll());
                Assert.Contains(next.Session, QmpSessionRegistry.GetAll());
            }
            finally
            {
                QmpSessionRegistry.Remove(live.Session);
                QmpSessionRegistry.Remove(next.Session);
            }
        }
    }
}
