// Helpers of bench/Invoke-ColoBench.ps1, compiled with Add-Type against the staged ColoPS.Core.dll.
//
// RawQmp is the baseline: a minimal QMP client of its own (a unix socket, a line reader, one
// JsonDocument per reply), sharing nothing with ColoPS but the plan *data* (ColoPlans' step lists),
// so that a ColoPS figure divided by its raw figure is the module's overhead.

#nullable enable

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Qemu;
using ColoPS.Qmp;

namespace ColoBench
{
    /// <summary>A minimal QMP client: connect, greeting, qmp_capabilities, then one request and one reply line at a time.</summary>
    public sealed class RawQmp : IDisposable
    {
        private static readonly byte[] s_newline = { (byte)'\n' };
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly StreamReader _reader;
        private long _id;

        public RawQmp(string path, bool oob = false, int timeoutMs = 120000)
        {
            _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _socket.ReceiveTimeout = timeoutMs;
            _socket.SendTimeout = timeoutMs;
            _socket.Connect(new UnixDomainSocketEndPoint(path));
            _stream = new NetworkStream(_socket, ownsSocket: true);
            _reader = new StreamReader(_stream, new UTF8Encoding(false), false, 64 * 1024);
            string? greeting = _reader.ReadLine();
            if (greeting == null || !greeting.Contains("\"QMP\"")) throw new IOException("No QMP greeting from " + path + ": " + greeting);
            Execute(oob ? "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}" : "{\"execute\":\"qmp_capabilities\"}");
        }

        public long EventsSeen { get; private set; }

        private void WriteLine(string json)
        {
            var bytes = Encoding.UTF8.GetBytes(json + "\n");
            _stream.Write(bytes, 0, bytes.Length);
        }

        /// <summary>Sends one command (JSON without an id; one is added) and returns its "return" member; skips events.</summary>
        public JsonElement Execute(string json)
        {
            long id = ++_id;
            string withId = json.Substring(0, json.LastIndexOf('}')) + ",\"id\":" + id + "}";
            WriteLine(withId);
            while (true)
            {
                string line = _reader.ReadLine() ?? throw new IOException("QEMU closed the connection.");
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.TryGetProperty("event", out _)) { EventsSeen++; continue; }
                if (!root.TryGetProperty("id", out var rid) || rid.ValueKind != JsonValueKind.Number || rid.GetInt64() != id) continue;
                if (root.TryGetProperty("error", out var err)) throw new InvalidOperationException("QMP error for " + withId + ": " + err.GetRawText());
                return root.GetProperty("return").Clone();
            }
        }

        /// <summary>The round-trip baseline: n times {"execute":"query-status","id":i}, one reply line read after each.</summary>
        public double QueryStatusLoop(int n)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 1; i <= n; i++)
            {
                WriteLine("{\"execute\":\"query-status\",\"id\":" + i + "}");
                string line = _reader.ReadLine() ?? throw new IOException("QEMU closed the connection.");
                if (!line.Contains("\"return\"")) throw new InvalidOperationException("Unexpected reply: " + line);
            }
            return clock.Elapsed.TotalMilliseconds;
        }

        /// <summary>The concurrency baseline: n query-status with up to <paramref name="window"/> requests in flight (pipelined).</summary>
        public double PipelinedLoop(int n, int window)
        {
            var clock = Stopwatch.StartNew();
            int sent = 0, received = 0;
            while (sent < Math.Min(window, n)) WriteLine("{\"execute\":\"query-status\",\"id\":" + (++sent) + "}");
            while (received < n)
            {
                string line = _reader.ReadLine() ?? throw new IOException("QEMU closed the connection.");
                if (!line.Contains("\"return\"")) throw new InvalidOperationException("Unexpected reply: " + line);
                received++;
                if (sent < n) WriteLine("{\"execute\":\"query-status\",\"id\":" + (++sent) + "}");
            }
            return clock.Elapsed.TotalMilliseconds;
        }

        /// <summary>Reads lines until the reply to a command sent now; returns how many event lines came before it.</summary>
        public long ReadUntilReply(string json, out double milliseconds)
        {
            var clock = Stopwatch.StartNew();
            long before = EventsSeen;
            Execute(json);
            milliseconds = clock.Elapsed.TotalMilliseconds;
            return EventsSeen - before;
        }

        public void Dispose() => _stream.Dispose();
    }

    /// <summary>Runs COLO plans with RawQmp, the way ColoPlanRunner does (same steps, same waits, same 50 ms poll).</summary>
    public static class RawColo
    {
        public static int PollMs = 50;
        public static TimeSpan Timeout = TimeSpan.FromSeconds(300);

        /// <summary>Starts a daemonized QEMU with the given argv and returns the pid from its pid file.</summary>
        public static int Launch(string binary, IEnumerable<string> arguments, string pidFile)
        {
            var psi = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
            foreach (var a in arguments) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(60000)) { p.Kill(true); throw new TimeoutException("QEMU did not daemonize within 60 s."); }
            string err = stderr.GetAwaiter().GetResult();
            stdout.GetAwaiter().GetResult();
            if (p.ExitCode != 0) throw new InvalidOperationException("QEMU exited with " + p.ExitCode + ": " + err);
            return int.Parse(File.ReadAllText(pidFile).Trim());
        }

        public static void Run(RawQmp node, RawQmp? peer, ColoPlan plan)
        {
            foreach (var step in plan.Steps)
            {
                switch (step.Kind)
                {
                    case ColoStepKind.Qmp:
                        node.Execute(step.ToJson());
                        break;
                    case ColoStepKind.Hmp:
                        var text = node.Execute(step.ToJson());
                        if (text.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(text.GetString()))
                            throw new InvalidOperationException("HMP said: " + text.GetString());
                        break;
                    case ColoStepKind.WaitForColo:
                        Poll(() =>
                        {
                            string s = Str(node.Execute("{\"execute\":\"query-migrate\"}"), "status") ?? "none";
                            if (s == "completed" || s == "failed" || s == "cancelled") throw new InvalidOperationException("Migration ended " + s);
                            return s == "colo";
                        });
                        if (peer != null) Poll(() => Str(peer.Execute("{\"execute\":\"query-colo-status\"}"), "mode") == "secondary");
                        Poll(() => Str(node.Execute("{\"execute\":\"query-colo-status\"}"), "mode") == "primary");
                        Poll(() => Str(node.Execute("{\"execute\":\"query-status\"}"), "status") == "running");
                        Poll(() => node.Execute("{\"execute\":\"query-chardev\"}").EnumerateArray().Count(c =>
                            (Str(c, "label") == "mirror0" || Str(c, "label") == "compare1") && Str(c, "filename") is string f && !f.StartsWith("disconnected", StringComparison.Ordinal)) == 2);
                        break;
                    case ColoStepKind.WaitForJobReady:
                        Poll(() =>
                        {
                            var jobs = node.Execute("{\"execute\":\"query-block-jobs\"}");
                            var job = jobs.EnumerateArray().FirstOrDefault(j => Str(j, "device") == step.JobId);
                            if (job.ValueKind == JsonValueKind.Undefined) throw new InvalidOperationException("The mirror job ended before it was ready.");
                            return job.TryGetProperty("ready", out var r) && r.ValueKind == JsonValueKind.True;
                        });
                        break;
                    case ColoStepKind.WaitForJobGone:
                        Poll(() => !node.Execute("{\"execute\":\"query-block-jobs\"}").EnumerateArray().Any(j => Str(j, "device") == step.JobId));
                        break;
                    case ColoStepKind.WaitForColoExit:
                        Poll(() => Str(node.Execute("{\"execute\":\"query-colo-status\"}"), "mode") == "none");
                        break;
                }
            }
        }

        /// <summary>
        /// Secondary failover, raw: query-yank for the instances to cut (as ColoOperations does), then
        /// the steps of ColoPlans.SecondaryFailover. Needs a client with oob (yank is exec-oob).
        /// </summary>
        public static void SecondaryFailover(RawQmp survivor, ColoConfig config, ColoSite site)
        {
            var instances = new List<JsonObject>();
            foreach (var i in survivor.Execute("{\"execute\":\"query-yank\"}").EnumerateArray())
            {
                string? type = Str(i, "type");
                if (type == "migration") instances.Add(new JsonObject { ["type"] = "migration" });
                else if (type == "block-node") instances.Add(new JsonObject { ["type"] = "block-node", ["node-name"] = Str(i, "node-name") });
                else if (type == "chardev" && (Str(i, "id") == "red0" || Str(i, "id") == "red1")) instances.Add(new JsonObject { ["type"] = "chardev", ["id"] = Str(i, "id") });
            }
            Run(survivor, null, ColoPlans.SecondaryFailover(config, site, instances));
        }

        /// <summary>Resume, raw: qom-list for rew0 (as ColoOperations does), then the steps of ColoPlans.Resume.</summary>
        public static void Resume(RawQmp survivor, RawQmp secondary, ColoConfig config, ColoSite site, QemuFeatures features)
        {
            bool rewriter = survivor.Execute("{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/objects\"}}").EnumerateArray().Any(o => Str(o, "name") == "rew0");
            Run(survivor, secondary, ColoPlans.Resume(config, site, rewriter, features));
        }

        private static void Poll(Func<bool> done)
        {
            var clock = Stopwatch.StartNew();
            while (!done())
            {
                if (clock.Elapsed > Timeout) throw new TimeoutException("Raw wait timed out.");
                Thread.Sleep(PollMs);
            }
        }

        private static string? Str(JsonElement e, string name)
            => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    /// <summary>Loops over a QmpSession from compiled code.</summary>
    public static class ApiLoop
    {
        /// <summary>n sequential query-status, each awaited with GetAwaiter().GetResult() (what a script does).</summary>
        public static double Sequential(QmpSession session, int n)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) session.ExecuteAsync("query-status", null, CancellationToken.None).GetAwaiter().GetResult();
            return clock.Elapsed.TotalMilliseconds;
        }

        /// <summary>n sequential query-status with the synchronous Execute: the calling thread reads its own reply.</summary>
        public static double Synchronous(QmpSession session, int n)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) session.Execute("query-status");
            return clock.Elapsed.TotalMilliseconds;
        }

        /// <summary>n sequential query-status in one async loop (await, no blocking).</summary>
        public static double SequentialAsync(QmpSession session, int n)
        {
            return Task.Run(async () =>
            {
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) await session.ExecuteAsync("query-status", null, CancellationToken.None).ConfigureAwait(false);
                return clock.Elapsed.TotalMilliseconds;
            }).GetAwaiter().GetResult();
        }

        /// <summary>n query-status split over <paramref name="callers"/> tasks sharing one session; total wall time.</summary>
        public static double Concurrent(QmpSession session, int callers, int n)
        {
            var tasks = new Task[callers];
            var clock = Stopwatch.StartNew();
            for (int c = 0; c < callers; c++)
            {
                int share = n / callers + (c < n % callers ? 1 : 0);
                tasks[c] = Task.Run(async () =>
                {
                    for (int i = 0; i < share; i++) await session.ExecuteAsync("query-status", null, CancellationToken.None).ConfigureAwait(false);
                });
            }
            Task.WaitAll(tasks);
            return clock.Elapsed.TotalMilliseconds;
        }
    }

    /// <summary>
    /// A fake QMP monitor on a unix socket for the event benchmark: it answers every command with
    /// {"return": {}}, except "x-flood", before whose reply it writes up to <see cref="Events"/> event lines
    /// (STOP and RESUME in turn, as stop/cont cause). The reply therefore arrives after the client
    /// has read every event.
    /// </summary>
    public sealed class FakeEventServer : IDisposable
    {
        private readonly Socket _listener;
        private readonly Thread _thread;
        private readonly byte[] _flood;
        private readonly int[] _ends;
        private volatile bool _stopping;

        public FakeEventServer(string path, int events)
        {
            Events = events;
            var sb = new StringBuilder(events * 90);
            _ends = new int[events + 1];
            for (int i = 0; i < events; i++)
            {
                sb.Append("{\"timestamp\": {\"seconds\": 1764000000, \"microseconds\": ").Append(i % 1000000)
                  .Append("}, \"event\": \"").Append(i % 2 == 0 ? "STOP" : "RESUME").Append("\"}\r\n");
                _ends[i + 1] = sb.Length; // ASCII: characters are bytes
            }
            _flood = Encoding.UTF8.GetBytes(sb.ToString());
            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            _listener.Listen(4);
            _thread = new Thread(Serve) { IsBackground = true, Name = "FakeEventServer" };
            _thread.Start();
        }

        public int Events { get; }
        public long FloodBytes => _flood.Length;

        private void Serve()
        {
            while (!_stopping)
            {
                Socket client;
                try { client = _listener.Accept(); }
                catch (Exception) { return; }
                try
                {
                    using var stream = new NetworkStream(client, ownsSocket: true);
                    using var reader = new StreamReader(stream, new UTF8Encoding(false));
                    Write(stream, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"fake\"}, \"capabilities\": []}}\r\n");
                    string? line;
                    while (!_stopping && (line = reader.ReadLine()) != null)
                    {
                        if (line.Trim().Length == 0) continue;
                        using var doc = JsonDocument.Parse(line);
                        var root = doc.RootElement;
                        string id = root.TryGetProperty("id", out var idElement) ? idElement.GetRawText() : "null";
                        string command = root.TryGetProperty("execute", out var c) ? c.GetString() ?? "" : "";
                        if (command == "x-flood")
                        {
                            // {"execute":"x-flood","arguments":{"count":n}} sends the first n events; all without arguments.
                            int count = Events;
                            if (root.TryGetProperty("arguments", out var a) && a.TryGetProperty("count", out var n)) count = Math.Min(Events, n.GetInt32());
                            stream.Write(_flood, 0, _ends[count]);
                        }
                        Write(stream, "{\"return\": {}, \"id\": " + id + "}\r\n");
                    }
                }
                catch (Exception) when (_stopping) { return; }
                catch (Exception) { /* a client that went away mid-message; serve the next one */ }
            }
        }

        private static void Write(Stream stream, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            stream.Write(bytes, 0, bytes.Length);
        }

        public void Dispose()
        {
            _stopping = true;
            try { _listener.Dispose(); } catch (Exception) { }
            _thread.Join(5000);
        }
    }

    public static class Memory
    {
        /// <summary>Managed heap in bytes after a full, compacting collection.</summary>
        public static long Settled()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
            }
            return GC.GetTotalMemory(forceFullCollection: true);
        }
    }
}
