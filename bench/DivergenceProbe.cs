// The checkpoint benchmark's way to make the two COLO guests' output differ on purpose: ICMP
// timestamp requests (RFC 792, type 13). The guest's kernel answers each with its own wall clock in
// milliseconds, which the primary and the secondary read at slightly different moments, so the
// replies often differ and colo-compare forces a checkpoint. Needs a raw socket (root).
// Loaded by bench/Invoke-CheckpointBench.ps1 with Add-Type.
using System;
using System.Net;
using System.Net.Sockets;
using System.Threading;

namespace ColoBench
{
    public sealed class DivergenceProbe : IDisposable
    {
        private readonly IPEndPoint _target;
        private readonly int _periodMs;
        private readonly Socket _socket;
        private Thread _thread;
        private volatile bool _stop;
        private ushort _sequence;

        public int Sent;
        public int Errors;

        public DivergenceProbe(string address, int periodMs)
        {
            _target = new IPEndPoint(IPAddress.Parse(address), 0);
            _periodMs = periodMs;
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp);
        }

        public void Start()
        {
            _stop = false;
            _thread = new Thread(Run) { IsBackground = true, Name = "divergence-probe" };
            _thread.Start();
        }

        public void Stop()
        {
            _stop = true;
            if (_thread != null) { _thread.Join(5000); _thread = null; }
        }

        public void Dispose() { Stop(); _socket.Dispose(); }

        private void Run()
        {
            while (!_stop)
            {
                try { _socket.SendTo(Build(++_sequence), _target); Sent++; }
                catch (SocketException) { Errors++; }
                Thread.Sleep(_periodMs);
            }
        }

        private static byte[] Build(ushort sequence)
        {
            // type 13, code 0, checksum, identifier, sequence, originate / receive / transmit timestamps
            var p = new byte[20];
            p[0] = 13;
            p[4] = 0xC0; p[5] = 0x10;
            p[6] = (byte)(sequence >> 8); p[7] = (byte)sequence;
            uint ms = (uint)(DateTime.UtcNow.TimeOfDay.TotalMilliseconds);
            p[8] = (byte)(ms >> 24); p[9] = (byte)(ms >> 16); p[10] = (byte)(ms >> 8); p[11] = (byte)ms;
            uint sum = 0;
            for (int i = 0; i < p.Length; i += 2) sum += (uint)((p[i] << 8) | p[i + 1]);
            while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
            ushort c = (ushort)~sum;
            p[2] = (byte)(c >> 8); p[3] = (byte)c;
            return p;
        }
    }
}
