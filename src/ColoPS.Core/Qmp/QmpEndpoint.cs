using System;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ColoPS.Qmp
{
    /// <summary>Where a QMP monitor listens: a unix socket path or a TCP host and port.</summary>
    public sealed class QmpEndpoint
    {
        // sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
        internal const int MaxUnixPathBytes = 107;

        private QmpEndpoint(QmpTransport transport, string? path, string? host, int port, QmpTlsOptions? tls = null)
        {
            Transport = transport;
            Path = path;
            HostName = host;
            Port = port;
            Tls = tls;
        }

        public QmpTransport Transport { get; }
        public string? Path { get; }
        public string? HostName { get; }
        public int Port { get; }

        /// <summary>TLS over the TCP connection, with a client certificate; null for a plain socket.</summary>
        public QmpTlsOptions? Tls { get; }

        public static QmpEndpoint Unix(string path)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("A unix socket path is required.", nameof(path));
            return new QmpEndpoint(QmpTransport.Unix, path, null, 0);
        }

        public static QmpEndpoint Tcp(string host, int port)
        {
            if (string.IsNullOrEmpty(host)) throw new ArgumentException("A host name is required.", nameof(host));
            if (port < 1 || port > 65535) throw new ArgumentOutOfRangeException(nameof(port), port, "A TCP port is 1 to 65535.");
            return new QmpEndpoint(QmpTransport.Tcp, null, host, port);
        }

        /// <summary>A monitor served on a TLS socket (QEMU's socket chardev with tls-creds): the client proves itself with a certificate and checks the server's.</summary>
        public static QmpEndpoint TcpTls(string host, int port, QmpTlsOptions tls)
        {
            if (tls == null) throw new ArgumentNullException(nameof(tls));
            var plain = Tcp(host, port);
            return new QmpEndpoint(QmpTransport.Tcp, null, plain.HostName, plain.Port, tls);
        }

        internal EndPoint ToSocketEndPoint()
        {
            if (Transport == QmpTransport.Unix)
            {
                if (System.Text.Encoding.UTF8.GetByteCount(Path!) > MaxUnixPathBytes)
                {
                    throw new QmpConnectException(this, string.Format(CultureInfo.InvariantCulture,
                        "The socket path is longer than the {0} bytes a unix socket address holds: {1}", MaxUnixPathBytes, Path), null);
                }
                return new UnixDomainSocketEndPoint(Path!);
            }
            return IPAddress.TryParse(HostName, out var ip) ? new IPEndPoint(ip, Port) : new DnsEndPoint(HostName!, Port);
        }

        internal Socket CreateSocket() => Transport == QmpTransport.Unix
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

        // Every command's ShouldProcess and log line names the endpoint: make the text once.
        public override string ToString() => _text ??= Transport == QmpTransport.Unix
            ? "unix:" + Path
            : string.Format(CultureInfo.InvariantCulture, "{0}:{1}:{2}", Tls == null ? "tcp" : "tls", HostName, Port);

        private string? _text;
    }

    public enum QmpTransport { Unix, Tcp }
}
