using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo.Host;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoPS.Tests.Fakes
{
    /// <summary>
    /// The host seams of the COLO operations as plain data: which processes live or are frozen,
    /// which files exist, what QEMU's start does. For the operations' decisions only; COLO itself
    /// is never faked (the Pester suites run it on real QEMU).
    /// </summary>
    internal sealed class FakeColoHost : IColoProcesses, IQemuRuntime, IQmpConnector
    {
        public FakeColoHost() => Host = new ColoHost(this, this, this, TimeProvider.System);

        public ColoHost Host { get; }

        public HashSet<int> Alive { get; } = new HashSet<int>();
        public HashSet<int> Frozen { get; } = new HashSet<int>();
        public Dictionary<int, string> CommandLines { get; } = new Dictionary<int, string>();
        /// <summary>A live process's start time; 1 when not set.</summary>
        public Dictionary<int, long> StartTimes { get; } = new Dictionary<int, long>();
        public List<int> Killed { get; } = new List<int>();
        public HashSet<string> Files { get; } = new HashSet<string>();
        public List<string> Deleted { get; } = new List<string>();
        public Dictionary<string, int> PidFiles { get; } = new Dictionary<string, int>();
        public Dictionary<string, string> Logs { get; } = new Dictionary<string, string>();
        public QemuVersion Version { get; set; } = new QemuVersion(11, 1, 3);
        public Func<int>? Start { get; set; }
        public Func<QmpSession>? Connect { get; set; }
        /// <summary>A session this process holds to the peer (Find answers it for any endpoint).</summary>
        public QmpSession? Held { get; set; }
        public List<string> Registered { get; } = new List<string>();

        bool IColoProcesses.IsAlive(int pid) => Alive.Contains(pid);
        bool IColoProcesses.IsFrozen(int pid) => Frozen.Contains(pid);
        bool IColoProcesses.CommandLineContains(int pid, string text) => CommandLines.TryGetValue(pid, out var c) && c.Contains(text, StringComparison.Ordinal);
        long? IColoProcesses.StartTime(int pid) => Alive.Contains(pid) ? (StartTimes.TryGetValue(pid, out var t) ? t : 1) : null;
        Task<bool> IColoProcesses.KillAsync(int pid, TimeSpan timeout, CancellationToken ct)
        {
            Killed.Add(pid);
            Alive.Remove(pid);
            Frozen.Remove(pid);
            return Task.FromResult(true);
        }
        Task<bool> IColoProcesses.WaitForExitAsync(int pid, TimeSpan timeout, CancellationToken ct) => Task.FromResult(!Alive.Contains(pid));

        Task<QemuVersion> IQemuRuntime.GetVersionAsync(string binary, IReadOnlyDictionary<string, string>? environment, CancellationToken ct) => Task.FromResult(Version);
        Task<int> IQemuRuntime.StartAsync(string binary, IReadOnlyList<string> arguments, string pidFile, string? logFile, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken ct)
            => Task.FromResult((Start ?? throw new InvalidOperationException("The test did not say what QEMU's start does."))());
        int? IQemuRuntime.RunningPid(string pidFile) => PidFiles.TryGetValue(pidFile, out var pid) && Alive.Contains(pid) ? pid : null;
        string IQemuRuntime.ReadLogTail(string logFile) => Logs.TryGetValue(logFile, out var text) ? text : string.Empty;
        Task IQemuRuntime.CreateImageAsync(string imgBinary, string path, long sizeBytes, CancellationToken ct) { Files.Add(path); return Task.CompletedTask; }
        Task<long> IQemuRuntime.GetVirtualSizeAsync(string imgBinary, string path, CancellationToken ct) => Task.FromResult(1L << 30);
        Task IQemuRuntime.CopyImageAsync(string source, string destination, CancellationToken ct) { Files.Add(destination); return Task.CompletedTask; }
        void IQemuRuntime.EnsurePrivateDirectory(string path) { }
        bool IQemuRuntime.FileExists(string path) => Files.Contains(path);
        void IQemuRuntime.DeleteFile(string path) { Deleted.Add(path); Files.Remove(path); }

        Task<QmpSession> IQmpConnector.ConnectAsync(QmpEndpoint endpoint, QmpSessionOptions options, CancellationToken ct)
            => Task.FromResult((Connect ?? throw new QmpConnectException(endpoint, "Connection refused.", null))());
        QmpSession? IQmpConnector.FindUnix(string socketPath) => null;
        QmpSession? IQmpConnector.Find(QmpEndpoint endpoint) => Held;
        void IQmpConnector.Register(QmpSession session) => Registered.Add(session.Name);
        void IQmpConnector.Unregister(QmpSession session) => Registered.Remove(session.Name);
    }
}
