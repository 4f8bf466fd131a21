using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoPS.Colo.Host
{
    /// <summary>
    /// Everything an operation touches outside its QMP session: processes, QEMU and its files, the
    /// session registry and the clock. The cmdlets use <see cref="Default"/>; unit tests pass fakes
    /// to drive an operation's decisions.
    /// </summary>
    public sealed class ColoHost
    {
        public ColoHost(IColoProcesses processes, IQemuRuntime qemu, IQmpConnector qmp, TimeProvider clock)
        {
            Processes = processes;
            Qemu = qemu;
            Qmp = qmp;
            Clock = clock;
        }

        public static ColoHost Default { get; } = new ColoHost(new HostProcesses(), new HostQemuRuntime(), new RegistryQmpConnector(), TimeProvider.System);

        public IColoProcesses Processes { get; }
        public IQemuRuntime Qemu { get; }
        public IQmpConnector Qmp { get; }
        public TimeProvider Clock { get; }

        private sealed class HostProcesses : IColoProcesses
        {
            public bool IsAlive(int pid) => ProcessProbe.IsAlive(pid);
            public bool IsFrozen(int pid) => ProcessProbe.IsFrozen(pid);
            public bool CommandLineContains(int pid, string text) => ProcessProbe.CommandLineContains(pid, text);
            public long? StartTime(int pid) => ProcessProbe.StartTime(pid);
            public Task<bool> KillAsync(int pid, TimeSpan timeout, CancellationToken ct) => ProcessProbe.KillAsync(pid, timeout, ct);
            public Task<bool> WaitForExitAsync(int pid, TimeSpan timeout, CancellationToken ct) => ProcessProbe.WaitForExitAsync(pid, timeout, ct);
        }

        private sealed class HostQemuRuntime : IQemuRuntime
        {
            public Task<QemuVersion> GetVersionAsync(string binary, IReadOnlyDictionary<string, string>? env, CancellationToken ct) => QemuBinary.GetVersionAsync(binary, env, ct);
            public Task<int> StartAsync(string binary, IReadOnlyList<string> args, string pidFile, string? logFile, IReadOnlyDictionary<string, string>? env, TimeSpan timeout, CancellationToken ct)
                => QemuLauncher.StartAsync(binary, args, pidFile, logFile, env, timeout, ct);
            public int? RunningPid(string pidFile) => QemuLauncher.RunningPid(pidFile);
            public string ReadLogTail(string logFile) => QemuLauncher.ReadTail(logFile);
            public Task CreateImageAsync(string img, string path, long size, CancellationToken ct) => new QemuImage(img).CreateAsync(path, size, ct);
            public Task<long> GetVirtualSizeAsync(string img, string path, CancellationToken ct) => new QemuImage(img).GetVirtualSizeAsync(path, ct);
            public Task CopyImageAsync(string source, string destination, CancellationToken ct) => QemuImage.CopyAsync(source, destination, ct);
            public void EnsurePrivateDirectory(string path) => QemuLauncher.EnsurePrivateDirectory(path);
            public bool FileExists(string path) => File.Exists(path);
            public void DeleteFile(string path)
            {
                try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }

        private sealed class RegistryQmpConnector : IQmpConnector
        {
            public Task<QmpSession> ConnectAsync(QmpEndpoint endpoint, QmpSessionOptions options, CancellationToken ct) => QmpSession.ConnectAsync(endpoint, options, ct);
            public QmpSession? FindUnix(string socketPath)
                => QmpSessionRegistry.GetAll().FirstOrDefault(s => s.Endpoint.Transport == QmpTransport.Unix && s.Endpoint.Path == socketPath && s.State == QmpSessionState.Running);
            public QmpSession? Find(QmpEndpoint endpoint)
                => QmpSessionRegistry.GetAll().FirstOrDefault(s => s.State == QmpSessionState.Running && s.Endpoint.ToString() == endpoint.ToString());
            public void Register(QmpSession session) => QmpSessionRegistry.Add(session);
            public void Unregister(QmpSession session) => QmpSessionRegistry.Remove(session);
        }
    }
}
