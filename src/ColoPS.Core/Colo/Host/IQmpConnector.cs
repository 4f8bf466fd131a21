using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;

namespace ColoPS.Colo.Host
{
    /// <summary>QMP sessions: new connections and the process-wide registry of open ones.</summary>
    public interface IQmpConnector
    {
        Task<QmpSession> ConnectAsync(QmpEndpoint endpoint, QmpSessionOptions options, CancellationToken cancellationToken);
        /// <summary>A running session this process already holds to the unix socket, or null: QEMU's monitor serves one client at a time.</summary>
        QmpSession? FindUnix(string socketPath);
        /// <summary>A running session this process already holds to the endpoint (unix or remote), or null.</summary>
        QmpSession? Find(QmpEndpoint endpoint) => endpoint.Transport == QmpTransport.Unix ? FindUnix(endpoint.Path!) : null;
        void Register(QmpSession session);
        void Unregister(QmpSession session);
    }
}
