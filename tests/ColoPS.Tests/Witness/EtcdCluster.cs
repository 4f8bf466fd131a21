using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Threading;
using ColoPS.Witness;
using Xunit;

namespace ColoPS.Tests.Witness
{
    /// <summary>Skips an etcd test only when the etcd binary is not installed; any other problem fails it.</summary>
    public sealed class EtcdFactAttribute : FactAttribute
    {
        public EtcdFactAttribute()
        {
            if (EtcdCluster.Binary == null)
                Skip = "etcd is not installed: apt-get install etcd-server etcd-client (./build.ps1 Test does it).";
        }
    }

    /// <summary>
    /// A real etcd cluster of three members on loopback (127.0.0.51-53, free ports, a temp data dir
    /// each), started once for the etcd tests and always stopped and removed. Three members, not
    /// one, so a test can stop one and see the client carry on with the other two.
    /// </summary>
    public sealed class EtcdCluster : IDisposable
    {
        public static readonly string? Binary = FindBinary();

        private readonly string _root;
        private readonly Member[] _members;

        public EtcdCluster()
        {
            const int size = 3;
            if (Binary == null) { _root = ""; _members = Array.Empty<Member>(); return; }
            _root = Path.Combine(Path.GetTempPath(), $"colops-etcd-{Environment.ProcessId}-{Guid.NewGuid():N}".Substring(0, 40));
            Directory.CreateDirectory(_root);
            _members = Enumerable.Range(0, size).Select(i =>
            {
                var ip = IPAddress.Parse($"127.0.0.{51 + i}");
                return new Member($"m{i}", ip, FreePort(ip), FreePort(ip), Path.Combine(_root, $"m{i}"));
            }).ToArray();
            // Stopped even if the test host dies without disposing fixtures.
            AppDomain.CurrentDomain.ProcessExit += OnExit;
            try
            {
                foreach (var m in _members) Start(m, existing: false);
                WaitHealthy(_members, TimeSpan.FromSeconds(30));
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public IReadOnlyList<Uri> ClientUrls => _members.Select(m => m.ClientUrl).ToArray();

        public EtcdClient NewClient(params int[] members)
        {
            var urls = members.Length == 0 ? ClientUrls : members.Select(i => _members[i].ClientUrl).ToArray();
            return new EtcdClient(new EtcdClientOptions(urls));
        }

        public void StopMember(int index)
        {
            var m = _members[index];
            Kill(m);
        }

        public void RestartMember(int index)
        {
            var m = _members[index];
            Start(m, existing: true);
            WaitHealthy(new[] { m }, TimeSpan.FromSeconds(30));
        }

        public bool AllRunning => _members.All(m => m.Process is { HasExited: false });

        private string InitialCluster => string.Join(",", _members.Select(m => $"{m.Name}={m.PeerUrl}"));

        private void Start(Member m, bool existing)
        {
            var psi = new ProcessStartInfo(Binary!)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in new[]
            {
                "--name", m.Name, "--data-dir", m.DataDir,
                "--listen-client-urls", m.ClientUrl.ToString().TrimEnd('/'), "--advertise-client-urls", m.ClientUrl.ToString().TrimEnd('/'),
                "--listen-peer-urls", m.PeerUrl, "--initial-advertise-peer-urls", m.PeerUrl,
                "--initial-cluster", InitialCluster, "--initial-cluster-state", existing ? "existing" : "new",
                "--initial-cluster-token", Path.GetFileName(_root),
                "--logger", "zap", "--log-level", "warn",
            }) psi.ArgumentList.Add(a);
            var p = new Process { StartInfo = psi };
            var log = File.AppendText(Path.Combine(_root, m.Name + ".log"));
            log.AutoFlush = true;
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
            p.Start();
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            m.Process = p;
            m.Log = log;
        }

        private void WaitHealthy(IEnumerable<Member> members, TimeSpan timeout)
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
            var deadline = DateTime.UtcNow + timeout;
            foreach (var m in members)
            {
                while (true)
                {
                    if (m.Process!.HasExited) throw new InvalidOperationException($"etcd {m.Name} exited with {m.Process.ExitCode}; log in {_root}.");
                    try
                    {
                        var body = http.GetStringAsync(new Uri(m.ClientUrl, "/health")).GetAwaiter().GetResult();
                        if (body.Contains("\"true\"")) break;
                    }
                    catch (Exception) when (DateTime.UtcNow < deadline) { }
                    if (DateTime.UtcNow >= deadline) throw new TimeoutException($"etcd {m.Name} was not healthy within {timeout.TotalSeconds} s; log in {_root}.");
                    Thread.Sleep(100);
                }
            }
        }

        private static void Kill(Member m)
        {
            var p = m.Process;
            m.Process = null;
            if (p == null) return;
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException) { }
            p.Dispose();
            lock (m.Log!) m.Log.Dispose();
        }

        private void OnExit(object? sender, EventArgs e) => Dispose();

        public void Dispose()
        {
            AppDomain.CurrentDomain.ProcessExit -= OnExit;
            foreach (var m in _members) Kill(m);
            if (_root.Length > 0 && Directory.Exists(_root))
            {
                try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
            }
        }

        private static int FreePort(IPAddress ip)
        {
            using var l = new TcpListener(ip, 0);
            l.Start();
            return ((IPEndPoint)l.LocalEndpoint).Port;
        }

        private static string? FindBinary()
        {
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var path = Path.Combine(dir, "etcd");
                if (File.Exists(path)) return path;
            }
            return null;
        }

        private sealed class Member
        {
            public Member(string name, IPAddress ip, int clientPort, int peerPort, string dataDir)
            {
                Name = name;
                ClientUrl = new Uri($"http://{ip}:{clientPort}/");
                PeerUrl = $"http://{ip}:{peerPort}";
                DataDir = dataDir;
            }

            public string Name { get; }
            public Uri ClientUrl { get; }
            public string PeerUrl { get; }
            public string DataDir { get; }
            public Process? Process { get; set; }
            public StreamWriter? Log { get; set; }
        }
    }

    [CollectionDefinition("etcd")]
    public sealed class EtcdCollection : ICollectionFixture<EtcdCluster> { }
}
