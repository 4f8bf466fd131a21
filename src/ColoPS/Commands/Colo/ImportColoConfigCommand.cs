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
                ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.HeldHere(config));
                WriteObject(config);
            }
            catch (ColoException ex)
            {
                WriteMappedError(ex, path);
            }
        }
    }
}
