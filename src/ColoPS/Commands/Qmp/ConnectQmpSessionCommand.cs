using System;
using System.Management.Automation;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>Opens a QMP session to a QEMU monitor and registers it.</summary>
    [Cmdlet(VerbsCommunications.Connect, "QmpSession", DefaultParameterSetName = PathSet)]
    [OutputType(typeof(QmpSession))]
    public sealed class ConnectQmpSessionCommand : ColoCmdlet
    {
        private const string PathSet = "Path";
        private const string TcpSet = "Tcp";
        private const string TlsDirectorySet = "TlsDirectory";
        private const string TlsCertificateSet = "TlsCertificate";

        #region Parameters

        /// <summary>The monitor's unix socket (QEMU's -qmp unix:PATH,server=on,wait=off).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipelineByPropertyName = true)]
        [Alias("SocketPath", "PSPath")]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = string.Empty;

        [Parameter(Mandatory = true, ParameterSetName = TcpSet)]
        [Parameter(Mandatory = true, ParameterSetName = TlsDirectorySet)]
        [Parameter(Mandatory = true, ParameterSetName = TlsCertificateSet)]
        [Alias("ComputerName")]
        [ValidateNotNullOrEmpty]
        public string HostName { get; set; } = string.Empty;

        [Parameter(Mandatory = true, ParameterSetName = TcpSet)]
        [Parameter(Mandatory = true, ParameterSetName = TlsDirectorySet)]
        [Parameter(Mandatory = true, ParameterSetName = TlsCertificateSet)]
        [ValidateRange(1, 65535)]
        public int Port { get; set; }

        /// <summary>TLS with the client certificate in this folder (ca-cert.pem, client-cert.pem, client-key.pem).</summary>
        [Parameter(Mandatory = true, ParameterSetName = TlsDirectorySet)]
        [ValidateNotNullOrEmpty]
        public string CertificateDirectory { get; set; } = string.Empty;

        /// <summary>TLS with this client certificate, which must hold its private key.</summary>
        [Parameter(Mandatory = true, ParameterSetName = TlsCertificateSet)]
        [ValidateNotNull]
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate { get; set; } = null!;

        /// <summary>The CA the monitor's certificate must chain to; the system's trust store is never used.</summary>
        [Parameter(Mandatory = true, ParameterSetName = TlsCertificateSet)]
        [ValidateNotNullOrEmpty]
        public System.Security.Cryptography.X509Certificates.X509Certificate2[] CertificateAuthority { get; set; } = null!;

        /// <summary>The name or IP address the monitor's certificate must carry; HostName when omitted.</summary>
        [Parameter(ParameterSetName = TlsDirectorySet)]
        [Parameter(ParameterSetName = TlsCertificateSet)]
        [ValidateNotNullOrEmpty]
        public string? ServerName { get; set; }

        /// <summary>A friendly name; QmpN when omitted.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Name { get; set; }

        /// <summary>Seconds to wait for the connection, the greeting and negotiation together.</summary>
        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 10;

        /// <summary>Default seconds a command waits for its reply on this session.</summary>
        [Parameter]
        [ValidateRange(1, 86400)]
        public int CommandTimeoutSec { get; set; } = 60;

        /// <summary>How many events the session keeps; older ones are discarded first.</summary>
        [Parameter]
        [ValidateRange(1, 1000000)]
        public int EventHistorySize { get; set; } = QmpSessionOptions.DefaultEventHistoryCapacity;

        /// <summary>Largest message accepted from QEMU, in bytes.</summary>
        [Parameter]
        [ValidateRange(1024, int.MaxValue)]
        public int MaxMessageBytes { get; set; } = QmpSessionOptions.DefaultMaxMessageBytes;

        /// <summary>Append every QMP message sent and received (secrets redacted) to this file.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? LogPath { get; set; }

        /// <summary>Do not negotiate out-of-band execution even when QEMU offers it.</summary>
        [Parameter]
        public SwitchParameter NoOob { get; set; }

        #endregion

        protected override void ProcessRecord()
        {
            QmpEndpoint endpoint;
            try
            {
                var tls = TlsClientParameters.From(ParameterSetName == TlsDirectorySet ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(CertificateDirectory) : null,
                    ParameterSetName == TlsCertificateSet ? Certificate : null, CertificateAuthority, ServerName);
                endpoint = tls != null ? QmpEndpoint.TcpTls(HostName, Port, tls)
                    : ParameterSetName == TcpSet ? QmpEndpoint.Tcp(HostName, Port)
                    : QmpEndpoint.Unix(SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path));
            }
            catch (Exception ex) when (ex is QmpException || ex is ArgumentException)
            {
                WriteMappedError(ex, ParameterSetName == TlsDirectorySet ? CertificateDirectory : HostName);
                return;
            }
            var options = new QmpSessionOptions
            {
                Name = Name,
                ConnectTimeout = TimeSpan.FromSeconds(TimeoutSec),
                CommandTimeout = TimeSpan.FromSeconds(CommandTimeoutSec),
                EventHistoryCapacity = EventHistorySize,
                MaxMessageBytes = MaxMessageBytes,
                EnableOob = !NoOob.IsPresent,
            };

            // QEMU's monitor serves one client at a time: a second connection would wait for a greeting that never comes.
            foreach (var open in QmpSessionRegistry.GetAll())
            {
                if (open.State == QmpSessionState.Running && open.Endpoint.ToString() == endpoint.ToString())
                {
                    WriteError("QmpSessionExists", ErrorCategory.ResourceExists,
                        Format("Session {0} ('{1}') is already connected to {2}; QEMU's monitor takes one client at a time. Use Get-QmpSession -Id {0}.", open.Id, open.Name, endpoint), endpoint.ToString());
                    return;
                }
            }
            if (Name != null && System.Linq.Enumerable.Any(QmpSessionRegistry.GetAll(), s => s.State == QmpSessionState.Running && string.Equals(s.Name, Name, StringComparison.OrdinalIgnoreCase)))
            {
                WriteError("QmpSessionNameInUse", ErrorCategory.ResourceExists, Format("A connected session is named '{0}' already.", Name), Name);
                return;
            }
            QmpFileLog? log = null;
            if (LogPath != null)
            {
                try { log = new QmpFileLog(SessionState.Path.GetUnresolvedProviderPathFromPSPath(LogPath)); }
                catch (Exception ex) when (ex is System.IO.IOException || ex is UnauthorizedAccessException)
                {
                    WriteError(new ErrorRecord(ex, "QmpLogNotWritable", ErrorCategory.WriteError, LogPath));
                    return;
                }
                options.Log = log.Write;
            }
            WriteVerbose(Format("Connecting to the QMP monitor at {0}.", endpoint));
            QmpSession session;
            try
            {
                session = Run(ct => QmpSession.ConnectAsync(endpoint, options, ct));
            }
            catch (Exception ex) when (ex is QmpException || ex is ArgumentException)
            {
                log?.Close();
                WriteMappedError(ex, endpoint.ToString());
                return;
            }
            log?.Attach(session);
            QmpSessionRegistry.Add(session);
            QmpEventCursors.Connected(session);
            WriteVerbose(Format("Connected: QEMU {0}, capabilities [{1}], oob {2}.", session.QemuVersion, string.Join(", ", session.Capabilities), session.OobEnabled ? "on" : "off"));
            WriteObject(session);
        }
    }
}
