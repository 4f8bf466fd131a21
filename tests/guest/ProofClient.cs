// The proof's client: numbered writes to the guest service (tests/guest/handler), one at a time,
// on one TCP connection; a number counts as acknowledged only when "ACK <n> ..." came back for that
// very n (the rest of the line is the guest's own and differs between primary and secondary). A number
// whose answer did not come (connection broken, timeout) is sent again on a new connection.
// Loaded by tests/guest/Invoke-ColoProof.ps1 with Add-Type.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace ColoProof
{
    public sealed class AckRecord
    {
        public long Number;
        public double WaitMs;        // first send of this number until its ACK, retries included
        public int Connection;
        public DateTime AckedUtc;
    }

    public sealed class ProofClient
    {
        private readonly string _host;
        private readonly int _port;
        private readonly object _lock = new object();
        private readonly List<AckRecord> _acks = new List<AckRecord>();
        private readonly List<string> _events = new List<string>();
        private volatile bool _stop;
        private volatile bool _reconnect;
        private Thread _thread;
        private volatile TcpClient _current;
        private long _next = 1;
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public int ReceiveTimeoutMs = 30000;
        public int PeriodMs = 0;
        public int Connections;
        public int IoErrors;
        public long Unexpected;
        public volatile bool InFlight;
        public DateTime InFlightSinceUtc;

        public ProofClient(string host, int port) { _host = host; _port = port; }

        public void Start()
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "proof-client" };
            _thread.Start();
        }

        public void Stop()
        {
            _stop = true;
            // A request whose answer will never come (its guest is dead) must not hold Stop for the receive timeout.
            var c = _current;
            if (c != null && InFlight) { try { c.Close(); } catch { } }
            if (_thread != null) _thread.Join(ReceiveTimeoutMs + 5000);
        }

        /// <summary>Close the connection after the current request and open a new one.</summary>
        public void Reconnect() { _reconnect = true; }

        public long Next { get { lock (_lock) return _next; } }

        public AckRecord[] Acks() { lock (_lock) return _acks.ToArray(); }

        public int AckCount { get { lock (_lock) return _acks.Count; } }

        public long LastAcked { get { lock (_lock) return _acks.Count == 0 ? 0 : _acks[_acks.Count - 1].Number; } }

        public string[] Events() { lock (_lock) return _events.ToArray(); }

        private void Note(string what)
        {
            lock (_lock) _events.Add(string.Format("{0:O} {1}", DateTime.UtcNow, what));
        }

        private void Run()
        {
            TcpClient client = null;
            StreamReader reader = null;
            Stream stream = null;
            long pending = 0;          // number sent and not yet acknowledged
            long firstSentTicks = 0;   // stopwatch ticks of its first send
            while (!_stop)
            {
                if (client != null && _reconnect && pending == 0)
                {
                    _reconnect = false;
                    Close(ref client, ref reader, ref stream);
                    Note("reconnect requested");
                }
                if (client == null)
                {
                    try
                    {
                        client = new TcpClient();
                        var task = client.ConnectAsync(_host, _port);
                        if (!task.Wait(5000)) throw new TimeoutException("connect timed out");
                        client.NoDelay = true;
                        client.ReceiveTimeout = ReceiveTimeoutMs;
                        client.SendTimeout = ReceiveTimeoutMs;
                        stream = client.GetStream();
                        _current = client;
                        reader = new StreamReader(stream, Encoding.ASCII);
                        Connections++;
                        Note("connected #" + Connections);
                    }
                    catch (Exception e)
                    {
                        Note("connect failed: " + e.GetBaseException().Message);
                        Close(ref client, ref reader, ref stream);
                        Thread.Sleep(200);
                        continue;
                    }
                }
                long n;
                lock (_lock) n = _next;
                if (pending != n) { pending = n; firstSentTicks = _clock.ElapsedTicks; }
                try
                {
                    InFlightSinceUtc = DateTime.UtcNow;
                    InFlight = true;
                    var line = Encoding.ASCII.GetBytes(n.ToString() + "\n");
                    stream.Write(line, 0, line.Length);
                    stream.Flush();
                    var answer = reader.ReadLine();
                    InFlight = false;
                    if (answer == null) throw new IOException("connection closed by the guest");
                    if (IsAckOf(answer, n))
                    {
                        var wait = (_clock.ElapsedTicks - firstSentTicks) * 1000.0 / Stopwatch.Frequency;
                        lock (_lock)
                        {
                            _acks.Add(new AckRecord { Number = n, WaitMs = wait, Connection = Connections, AckedUtc = DateTime.UtcNow });
                            _next = n + 1;
                        }
                        pending = 0;
                    }
                    else
                    {
                        Unexpected++;
                        Note("unexpected answer to " + n + ": " + answer);
                        throw new IOException("unexpected answer");
                    }
                }
                catch (Exception e)
                {
                    InFlight = false;
                    if (_stop) break;   // Stop() closed the socket under a request: not a fault
                    IoErrors++;
                    Note("io error on " + n + ": " + e.GetBaseException().Message);
                    Close(ref client, ref reader, ref stream);
                    Thread.Sleep(100);
                    continue;
                }
                if (PeriodMs > 0) Thread.Sleep(PeriodMs);
            }
            Close(ref client, ref reader, ref stream);
            Note("stopped");
        }

        /// <summary>"ACK <n>", alone or followed by a space and anything.</summary>
        public static bool IsAckOf(string answer, long n)
        {
            var head = "ACK " + n;
            return answer == head || answer.StartsWith(head + " ", StringComparison.Ordinal);
        }

        private static void Close(ref TcpClient client, ref StreamReader reader, ref Stream stream)
        {
            try { if (client != null) client.Close(); } catch { }
            client = null; reader = null; stream = null;
        }

        /// <summary>One request on a fresh connection (the survivor's view of its disk).</summary>
        public static string Ask(string host, int port, string request, int timeoutMs)
        {
            using (var c = new TcpClient())
            {
                var task = c.ConnectAsync(host, port);
                if (!task.Wait(timeoutMs)) throw new TimeoutException("connect to " + host + ":" + port + " timed out");
                c.ReceiveTimeout = timeoutMs;
                c.SendTimeout = timeoutMs;
                var s = c.GetStream();
                var r = new StreamReader(s, Encoding.ASCII);
                var bytes = Encoding.ASCII.GetBytes(request + "\nQ\n");
                s.Write(bytes, 0, bytes.Length);
                s.Flush();
                return r.ReadLine();
            }
        }
    }
}
