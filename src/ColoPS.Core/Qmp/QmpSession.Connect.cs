using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qmp
{
    /// <summary>The handshake: connect, greeting, capability negotiation.</summary>
    public sealed partial class QmpSession
    {
        /// <summary>Connects, reads the greeting and negotiates capabilities (oob when offered and enabled).</summary>
        public static async Task<QmpSession> ConnectAsync(QmpEndpoint endpoint, QmpSessionOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (endpoint == null) throw new ArgumentNullException(nameof(endpoint));
            options = (options ?? new QmpSessionOptions()).Validate();
            var clock = Stopwatch.StartNew();
            TimeSpan Remaining() => Max(options.ConnectTimeout - clock.Elapsed, TimeSpan.FromMilliseconds(1));

            var socketEndPoint = endpoint.ToSocketEndPoint();
            var socket = endpoint.CreateSocket();
            using (var connectCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectCts.CancelAfter(options.ConnectTimeout);
                try
                {
                    if (endpoint.Transport == QmpTransport.Unix) ConnectUnixBlocking(socket, socketEndPoint);
                    else await socket.ConnectAsync(socketEndPoint, connectCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    socket.Dispose();
                    throw new QmpConnectException(endpoint, string.Format(CultureInfo.InvariantCulture,
                        "Connecting to {0} timed out after {1:0.###} s.", endpoint, options.ConnectTimeout.TotalSeconds), null);
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    string reason = endpoint.Transport == QmpTransport.Unix && !System.IO.File.Exists(endpoint.Path)
                        ? "no socket exists at that path (is QEMU running with -qmp unix:" + endpoint.Path + ",server=on?)"
                        : endpoint.Transport == QmpTransport.Unix && ex.SocketErrorCode == SocketError.TimedOut
                            ? "the monitor's queue of waiting connections is full (is another client holding it?)"
                            : ex.Message;
                    throw new QmpConnectException(endpoint, $"Cannot connect to {endpoint}: {reason}", ex);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            QmpTlsChannel? tls = null;
            if (endpoint.Tls != null)
            {
                try
                {
                    tls = await QmpTlsChannel.AuthenticateAsync(socket, endpoint, endpoint.Tls, Remaining(), cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            var session = new QmpSession(endpoint, socket, options, tls);
            try
            {
                session.StartReader();
                QmpGreeting greeting;
                try
                {
                    greeting = await session._greeting.Task.WaitAsync(Remaining(), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    throw new QmpGreetingException(string.Format(CultureInfo.InvariantCulture,
                        "No QMP greeting from {0} within {1:0.###} s. Is it a QMP monitor (not HMP), and is another client holding it?", endpoint, options.ConnectTimeout.TotalSeconds));
                }
                catch (QmpDisconnectedException ex) when (tls != null)
                {
                    // TLS 1.3: the server's verdict on our certificate comes after the handshake.
                    throw new QmpTlsException($"The QMP monitor at {endpoint} ended the TLS session before its greeting (is {endpoint.Tls!.ClientIdentity} signed by its CA and allowed by its tls-authz?): {ex.InnerException?.Message ?? ex.Message}", ex);
                }
                catch (QmpDisconnectedException ex)
                {
                    throw new QmpGreetingException($"The connection to {endpoint} ended before a complete QMP greeting: {ex.InnerException?.Message ?? ex.Message}", ex);
                }

                session._greetingValue = greeting;
                session.SetState(QmpSessionState.Negotiating);
                bool oob = options.EnableOob && Contains(greeting.Capabilities, "oob");
                var arguments = oob ? new JsonObject { ["enable"] = new JsonArray("oob") } : null;
                try
                {
                    await session.SendAsync("qmp_capabilities", arguments, false, Remaining(), cancellationToken, negotiating: true).ConfigureAwait(false);
                }
                catch (QmpCommandException ex)
                {
                    throw new QmpNegotiationException($"qmp_capabilities was refused by {endpoint}: {ex.Description}", ex);
                }
                catch (Exception ex) when (ex is QmpDisconnectedException || ex is QmpTimeoutException || ex is QmpProtocolException)
                {
                    throw new QmpNegotiationException($"Capability negotiation with {endpoint} failed: {ex.Message}", ex);
                }

                if (oob)
                {
                    session._inBandSlots = new SemaphoreSlim(options.MaxInBandInFlight, options.MaxInBandInFlight);
                    session.OobEnabled = true;
                }
                session.SetState(QmpSessionState.Running);
                return session;
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }

        // A socket that never saw an asynchronous operation stays in the kernel's blocking mode, and
        // then the reader's receive wakes the reader thread itself, with no hop through .NET's epoll
        // thread. A unix connect does not wait for the network: it succeeds, is refused, or finds
        // the listener's queue full, and the 1 ms send timeout turns the last into a prompt error
        // instead of a wait for room in the queue.
        private static void ConnectUnixBlocking(Socket socket, System.Net.EndPoint endPoint)
        {
            socket.SendTimeout = 1;
            socket.Connect(endPoint);
            socket.SendTimeout = 0;
        }

        private static bool Contains(IReadOnlyList<string> list, string value)
        {
            foreach (var s in list) if (string.Equals(s, value, StringComparison.Ordinal)) return true;
            return false;
        }
    }
}
