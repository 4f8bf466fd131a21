using System.Management.Automation;
using ColoPS.Colo;

namespace ColoPS.Commands
{
    /// <summary>Reads a COLO configuration from a JSON file and validates it.</summary>
    [Cmdlet(VerbsData.Import, "ColoConfig")]
    [OutputType(typeof(ColoConfig))]
    public sealed class ImportColoConfigCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("PSPath", "FullName")]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = string.Empty;

        protected override void ProcessRecord()
        {
            var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
            try
            {
                var config = ColoConfigJson.Load(path);
                // On two hosts each holds only its own site's certificate folder: look into that one.
                ColoSite? filesOf = null;
                if (config.Tls?.SiteA != null && config.Tls.SiteB != null)
                {
                    bool a = System.IO.Directory.Exists(config.Tls.SiteA.CertificateDirectory), b = System.IO.Directory.Exists(config.Tls.SiteB.CertificateDirectory);
                    if (a != b) filesOf = a ? ColoSite.A : ColoSite.B;
                }
                ColoConfigValidator.ThrowIfInvalid(config, filesOf: filesOf);
                WriteObject(config);
            }
            catch (ColoException ex)
            {
                WriteMappedError(ex, path);
            }
        }
    }
}
