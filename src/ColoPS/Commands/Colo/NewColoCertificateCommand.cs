using System;
using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Tls;

namespace ColoPS.Commands
{
    /// <summary>
    /// Makes a CA and each site's server and client certificates for a pair, and returns the
    /// configuration with its Tls section pointing at them.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "ColoCertificate", SupportsShouldProcess = true)]
    [OutputType(typeof(ColoConfig))]
    public sealed class NewColoCertificateCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        /// <summary>The folder that receives ca/, A/ and B/.</summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = string.Empty;

        [Parameter]
        [ValidateRange(1, 3650)]
        public int ValidDays { get; set; } = 365;

        /// <summary>Replace certificates that exist already.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>The openssl program; found on PATH by default.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string OpenSsl { get; set; } = "openssl";

        protected override void ProcessRecord()
        {
            var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
            if (!ShouldProcess(path, $"Create a CA and the certificates of sites A ({Config.SiteA?.Address}) and B ({Config.SiteB?.Address}) for '{Config.Name}'")) return;
            try
            {
                var tls = Run(ct => ColoCertificateMaker.CreateAsync(Config, path, ValidDays, Force, OpenSsl, ct));
                // A copy: the caller's object stays as it was, as with every New- cmdlet.
                var result = ColoConfigJson.Deserialize(ColoConfigJson.Serialize(Config), "the configuration");
                result.Tls = tls;
                ColoConfigValidator.ThrowIfInvalid(result, ColoHostFiles.None);
                WriteObject(result);
            }
            catch (ColoException ex)
            {
                WriteMappedError(ex, path);
            }
        }
    }
}
