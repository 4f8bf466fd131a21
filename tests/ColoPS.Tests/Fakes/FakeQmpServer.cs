using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qmp;

namespace ColoPS.Tests.Fakes
{
    /// <summary>
    /// A scriptable in-process QMP server for protocol edge cases. It listens on a unix socket in a
    /// private temp dir (and, when asked, on 127.0.0.1 with an ephemeral port); a test accepts a
    /// client and then scripts exactly what the "QEMU" side does through <see cref="FakeQmpConnection"/>.
    /// Nothing happens on its own: no greeting, no replies, unless the test sends them.
    /// </summary>
    internal sealed class FakeQmpServer : IDisposable
    {
        /// <summary>The bound on every wait of the fake and of the tests that use it.</summary>
        public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

        private readonly string _dir;
        private readonly List<FakeQmpConnection> _connections = new List<FakeQmpConnection>();
        private readonly int _backlog;
        private Socket? _unix;
        private TcpListener? _tcp;

        public FakeQmpServer(bool tcp = false, int backlog = 16)
        {
            _backlog = backlog;
            _dir = Path.Combine(Path.GetTempPath(), "colops-fake-" + Guid.NewGuid().ToString("N").Substring(0, 12));
            Directory.CreateDirectory(_dir);
            SocketPath = Path.Combine(_dir, "qmp.sock");
            ListenUnix();
            if (tcp)
            {
                _tcp = new TcpListener(IPAddress.Loopback, 0);
                _tcp.Start(backlog);
            }
        }

        public string SocketPath { get; }
        public string SocketDirectory => _dir;
        public QmpEndpoint Endpoint => QmpEndpoint.Unix(SocketPath);
        public QmpEndpoint TcpEndpoint => QmpEndpoint.Tcp("127.0.0.1", ((IPEndPoint)(_tcp ?? throw new InvalidOperationException("Not listening on TCP.")).LocalEndpoint).Port);

        /// <summary>Accepts the next unix-socket client.</summary>
        public async Task<FakeQmpConnection> AcceptAsync()
        {
            var listener = _unix ?? throw new InvalidOperationException("Not listening.");
            var socket = await listener.AcceptAsync().WaitAsync(Timeout).ConfigureAwait(false);
            return Track(new FakeQmpConnection(socket));
        }

        /// <summary>Accepts the next TCP client.</summary>
        public async Task<FakeQmpConnection> AcceptTcpAsync()
        {
            var listener = _tcp ?? throw new InvalidOperationException("Not listening on TCP.");
            var socket = await listener.AcceptSocketAsync().WaitAsync(Timeout).ConfigureAwait(false);
            return Track(new FakeQmpConnection(socket));
        }

        /// <summary>
        /// Stops listening. With <paramref name="keepSocketFile"/> a stale socket file stays behind (as when QEMU
        /// is killed), so a connect gets ECONNREFUSED rather than ENOENT.
        /// </summary>
        public void StopListening(bool keepSocketFile = false)
        {
            if (_unix != null && keepSocketFile)
            {
                // .NET deletes the file of a unix socket it bound when the socket is disposed: move it out of the way first.
                string aside = SocketPath + ".aside";
                File.Move(SocketPath, aside);
                _unix.Dispose();
                File.Move(aside, SocketPath);
            }
            _unix?.Dispose();
            _unix = null;
            if (!keepSocketFile) TryDelete(SocketPath);
        }

        /// <summary>Like a restarted QEMU: the old listener goes, a new one binds the same path.</summary>
        public void Restart()
        {
            StopListening();
            ListenUnix();
        }

        private void ListenUnix()
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Bind(new UnixDomainSocketEndPoint(SocketPath));
            s.Listen(_backlog);
            _unix = s;
        }

        private FakeQmpConnection Track(FakeQmpConnection c)
        {
            lock (_connections) _connections.Add(c);
            return c;
        }

        public void Dispose()
        {
            FakeQmpConnection[] all;
            lock (_connections) all = _connections.ToArray();
            foreach (var c in all) c.Dispose();
            _unix?.Dispose();
            _tcp?.Stop();
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        private static void TryDelete(string path)
        {
            try { File.Delete(path); } catch (IOException) { }
        }
    }

    /// <summary>One accepted client, seen from the QEMU side.</summary>
    internal sealed class FakeQmpConnection : IDisposable
    {
        /// <summary>A QEMU 7.2 greeting as Debian 12's QEMU writes it (member order included).</summary>
        public const string Qemu72Greeting =
            "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 19, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18\"}, \"capabilities\": []}}";
        public const string Qemu72GreetingOob =
            "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 19, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18\"}, \"capabilities\": [\"oob\"]}}";

        private readonly Socket _socket;
        private readonly SemaphoreSlim _writeLock = new SemaphoreSlim(1, 1);
        private byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public FakeQmpConnection(Socket socket)
        {
            _socket = socket;
        }

        public Socket Socket => _socket;

        /// <summary>True when a whole line (or at least some bytes) from the client is ready without waiting.</summary>
        public bool HasBufferedInput => Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start) >= 0 || _socket.Available > 0;

        #region Sending

        public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

        public async Task SendAsync(byte[] bytes)
        {
            await _writeLock.WaitAsync().WaitAsync(FakeQmpServer.Timeout).ConfigureAwait(false);
            try
            {
                int sent = 0;
                while (sent < bytes.Length)
                {
                    sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None).AsTask().WaitAsync(FakeQmpServer.Timeout).ConfigureAwait(false);
                }
            }
            finally
            {
                _writeLock.Release();
            }
        }

        /// <summary>Sends one message (a line, CRLF-terminated like QEMU).</summary>
        public Task SendLineAsync(string json) => SendAsync(json + "\r\n");

        /// <summary>Sends <paramref name="bytes"/> in pieces cut at <paramref name="cuts"/>, pausing between pieces so the client reads them apart.</summary>
        public async Task SendSplitAsync(byte[] bytes, IEnumerable<int> cuts, TimeSpan? pause = null)
        {
            int from = 0;
            foreach (int cut in cuts)
            {
                if (cut <= from || cut >= bytes.Length) continue;
                await SendAsync(bytes[from..cut]).ConfigureAwait(false);
                await Task.Delay(pause ?? TimeSpan.FromMilliseconds(1)).ConfigureAwait(false);
                from = cut;
            }
            await SendAsync(bytes[from..]).ConfigureAwait(false);
        }

        public Task SendGreetingAsync(bool oob = false) => SendLineAsync(oob ? Qemu72GreetingOob : Qemu72Greeting);

        public Task SendEventAsync(string name, JsonNode? data = null, long seconds = 1700000000, long microseconds = 123456)
            => SendLineAsync(EventJson(name, data, seconds, microseconds));

        public static string EventJson(string name, JsonNode? data = null, long seconds = 1700000000, long microseconds = 123456)
        {
            var o = new JsonObject { ["event"] = name };
            if (data != null) o["data"] = data.DeepClone();
            o["timestamp"] = new JsonObject { ["seconds"] = seconds, ["microseconds"] = microseconds };
            return o.ToJsonString();
        }

        /// <summary>{"return": value, "id": id}; value defaults to {}.</summary>
        public Task ReplyAsync(FakeCommand command, JsonNode? value = null) => SendLineAsync(ReturnJson(command, value));

        public Task ReplyErrorAsync(FakeCommand command, string errorClass, string desc) => SendLineAsync(ErrorJson(command, errorClass, desc));

        public static string ReturnJson(FakeCommand command, JsonNode? value = null)
        {
            var o = new JsonObject { ["return"] = value?.DeepClone() ?? new JsonObject() };
            if (command.Id != null) o["id"] = command.Id.DeepClone();
            return o.ToJsonString();
        }

        public static string ErrorJson(FakeCommand command, string errorClass, string desc)
        {
            var o = new JsonObject { ["error"] = new JsonObject { ["class"] = errorClass, ["desc"] = desc } };
            if (command.Id != null) o["id"] = command.Id.DeepClone();
            return o.ToJsonString();
        }

        /// <summary>Greeting, qmp_capabilities, its reply: what QEMU does for a well-behaved client. Returns the qmp_capabilities command.</summary>
        public async Task<FakeCommand> HandshakeAsync(bool oob = false)
        {
            await SendGreetingAsync(oob).ConfigureAwait(false);
            var caps = await ReadCommandAsync().ConfigureAwait(false);
            if (caps.Name != "qmp_capabilities") throw new InvalidOperationException("Expected qmp_capabilities, got " + caps.Raw);
            await ReplyAsync(caps).ConfigureAwait(false);
            return caps;
        }

        #endregion

        #region Receiving

        /// <summary>The next line the client wrote, without its line end; null at EOF.</summary>
        public async Task<string?> ReadLineAsync()
        {
            using var cts = new CancellationTokenSource(FakeQmpServer.Timeout);
            while (true)
            {
                int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (nl >= 0)
                {
                    string line = Encoding.UTF8.GetString(_buffer, _start, nl - _start).TrimEnd('\r');
                    _start = nl + 1;
                    return line;
                }
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                if (_end == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
                int n;
                try
                {
                    n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException("The fake QMP server got no line from the client within " + FakeQmpServer.Timeout);
                }
                catch (SocketException)
                {
                    return null;
                }
                if (n == 0) return null;
                _end += n;
            }
        }

        /// <summary>The next command the client sent (blank lines skipped). Fails on EOF.</summary>
        public async Task<FakeCommand> ReadCommandAsync()
        {
            while (true)
            {
                string? line = await ReadLineAsync().ConfigureAwait(false);
                if (line == null) throw new EndOfStreamException("The client closed the connection instead of sending a command.");
                if (line.Trim().Length == 0) continue;
                return new FakeCommand(line);
            }
        }

        /// <summary>Reads and discards until the client closes; true if it did within the timeout.</summary>
        public async Task<bool> WaitForClientCloseAsync()
        {
            try
            {
                while (await ReadLineAsync().ConfigureAwait(false) != null) { }
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        /// <summary>
        /// Asserts absence: true when nothing at all arrives from the client for <paramref name="quiet"/>.
        /// (Only used to show that something is NOT sent; never as synchronization.)
        /// </summary>
        public async Task<bool> NothingArrivesWithinAsync(TimeSpan quiet)
        {
            if (_end > _start) return false;
            var probe = new byte[1];
            using var cts = new CancellationTokenSource(quiet);
            try
            {
                int n = await _socket.ReceiveAsync(probe, SocketFlags.Peek, cts.Token).ConfigureAwait(false);
                return false;
            }
            catch (OperationCanceledException)
            {
                return true;
            }
        }

        #endregion

        #region Ending

        /// <summary>Closes gracefully: the client sees EOF.</summary>
        public void Close()
        {
            try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            _socket.Dispose();
        }

        /// <summary>Closes with a reset (TCP RST via linger 0).</summary>
        public void Abort()
        {
            try { _socket.LingerState = new LingerOption(true, 0); } catch (SocketException) { }
            _socket.Dispose();
        }

        public void Dispose() => Close();

        #endregion
    }

    /// <summary>A command as the fake server parsed it.</summary>
    internal sealed class FakeCommand
    {
        public FakeCommand(string raw)
        {
            Raw = raw;
            Json = JsonNode.Parse(raw) as JsonObject ?? throw new InvalidDataException("Not a JSON object: " + raw);
            if (Json["exec-oob"] is JsonNode oob)
            {
                Oob = true;
                Name = oob.GetValue<string>();
            }
            else
            {
                Name = Json["execute"]?.GetValue<string>() ?? throw new InvalidDataException("No execute/exec-oob: " + raw);
            }
            Arguments = Json["arguments"] as JsonObject;
            Id = Json.ContainsKey("id") ? Json["id"] : null;
        }

        public string Raw { get; }
        public JsonObject Json { get; }
        public string Name { get; }
        public bool Oob { get; }
        public JsonObject? Arguments { get; }
        public JsonNode? Id { get; }
        /// <summary>The id as the client wrote it (JSON text: a number for the session's own commands).</summary>
        public string? IdJson => Id?.ToJsonString();

        public override string ToString() => Raw;
    }
}
