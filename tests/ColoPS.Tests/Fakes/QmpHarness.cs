using System;
using System.Threading.Tasks;
using ColoPS.Qmp;

namespace ColoPS.Tests.Fakes
{
    /// <summary>A fake server, its accepted connection and a negotiated session, disposed together.</summary>
    internal sealed class QmpHarness : IDisposable
    {
        private QmpHarness(FakeQmpServer server, FakeQmpConnection connection, QmpSession session, FakeCommand capabilities)
        {
            Server = server;
            Qemu = connection;
            Session = session;
            Capabilities = capabilities;
        }

        public FakeQmpServer Server { get; }
        /// <summary>The QEMU side of the connection.</summary>
        public FakeQmpConnection Qemu { get; }
        public QmpSession Session { get; }
        /// <summary>The qmp_capabilities command the client sent.</summary>
        public FakeCommand Capabilities { get; }

        public static async Task<QmpHarness> StartAsync(bool oob = false, QmpSessionOptions? options = null, bool tcp = false)
        {
            var server = new FakeQmpServer(tcp);
            try
            {
                options ??= new QmpSessionOptions();
                var connecting = QmpSession.ConnectAsync(tcp ? server.TcpEndpoint : server.Endpoint, options);
                var qemu = tcp ? await server.AcceptTcpAsync() : await server.AcceptAsync();
                var caps = await qemu.HandshakeAsync(oob);
                var session = await connecting.Within();
                return new QmpHarness(server, qemu, session, caps);
            }
            catch
            {
                server.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Session.Dispose();
            Server.Dispose();
        }
    }

    internal static class TaskTimeouts
    {
        /// <summary>Every await in a test is bounded: a broken client fails the test instead of hanging it.</summary>
        public static Task Within(this Task task) => task.WaitAsync(FakeQmpServer.Timeout);

        public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(FakeQmpServer.Timeout);
    }
}
