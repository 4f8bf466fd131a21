using System;
using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Attaches to a COLO QEMU that already runs at a site, so that a runbook or scheduled task in
    /// a new pwsh process can read its status, fail over or resume.
    /// </summary>
    [Cmdlet(VerbsCommunications.Connect, "ColoNode", DefaultParameterSetName = LocalSet)]
    [OutputType(typeof(ColoNode))]
    public sealed class ConnectColoNodeCommand : ColoCmdlet
    {
        private const string LocalSet = "Local";
        private const string RemoteDirectorySet = "RemoteDirectory";
        private const string RemoteCertificateSet = "RemoteCertificate";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>The sites to attach to; both when omitted (a site without a running QEMU is an error).</summary>
        [Parameter(Position = 1)]
        public ColoSite[] Site { get; set; } = { ColoSite.A, ColoSite.B };

        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 10;

        /// <summary>Through each site's remote QMP monitor (SiteX.Management, TLS) instead of its local unix socket.</summary>
        [Parameter(Mandatory = true, ParameterSetName = RemoteDirectorySet)]
        [Parameter(Mandatory = true, ParameterSetName = RemoteCertificateSet)]
        public SwitchParameter Remote { get; set; }

        /// <summary>The operator's folder: ca-cert.pem, client-cert.pem, client-key.pem.</summary>
        [Parameter(Mandatory = true, ParameterSetName = RemoteDirectorySet)]
        [ValidateNotNullOrEmpty]
        public string CertificateDirectory { get; set; } = string.Empty;

        /// <summary>The operator's client certificate, with its private key.</summary>
        [Parameter(Mandatory = true, ParameterSetName = RemoteCertificateSet)]
        [ValidateNotNull]
        public System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate { get; set; } = null!;

        /// <summary>The pair's CA, which the monitors' certificates must chain to.</summary>
        [Parameter(Mandatory = true, ParameterSetName = RemoteCertificateSet)]
        [ValidateNotNullOrEmpty]
        public System.Security.Cryptography.X509Certificates.X509Certificate2[] CertificateAuthority { get; set; } = null!;

        protected override void ProcessRecord()
        {
            QmpTlsOptions? tls = null;
            try
            {
                // Each monitor's certificate is checked against the management address it is reached at.
                tls = TlsClientParameters.From(ParameterSetName == RemoteDirectorySet ? SessionState.Path.GetUnresolvedProviderPathFromPSPath(CertificateDirectory) : null,
                    ParameterSetName == RemoteCertificateSet ? Certificate : null, CertificateAuthority, null);
            }
            catch (Exception ex) when (ex is QmpException || ex is ArgumentException)
            {
                WriteMappedError(ex, CertificateDirectory);
                return;
            }
            var timeout = TimeSpan.FromSeconds(TimeoutSec);
            foreach (var site in Site)
            {
                try
                {
                    if (tls != null) WriteVerbose(Format("Connecting to the remote QMP monitor of site {0} as {1}.", site, tls.ClientIdentity));
                    WriteObject(Run(ct => tls != null
                        ? ColoOperations.AttachRemoteAsync(Config, site, tls, timeout, ct)
                        : ColoOperations.AttachAsync(Config, site, timeout, ct)));
                }
                catch (Exception ex) when (ex is ColoException || ex is QmpException)
                {
                    WriteMappedError(ex, Format("{0}-{1}", Config.Name, site));
                }
            }
        }
    }
}
