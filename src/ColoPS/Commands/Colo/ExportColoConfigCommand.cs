using System.IO;
using System.Management.Automation;
using ColoPS.Colo;

namespace ColoPS.Commands
{
    /// <summary>Writes a COLO configuration to a JSON file.</summary>
    [Cmdlet(VerbsData.Export, "ColoConfig", SupportsShouldProcess = true)]
    [OutputType(typeof(ColoConfig))]
    public sealed class ExportColoConfigCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        [Parameter(Mandatory = true, Position = 0)]
        [Alias("PSPath")]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = string.Empty;

        /// <summary>Refuse to overwrite an existing file.</summary>
        [Parameter]
        public SwitchParameter NoClobber { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
            if (NoClobber && File.Exists(path))
            {
                WriteError("ColoConfigFileExists", ErrorCategory.ResourceExists, Format("{0} exists and -NoClobber was given.", path), path);
                return;
            }
            if (!ShouldProcess(path, Format("Write COLO configuration '{0}'", Config.Name))) return;
            try
            {
                ColoConfigJson.Save(Config, path);
            }
            catch (System.Exception ex) when (ex is IOException || ex is System.UnauthorizedAccessException)
            {
                WriteError(new ErrorRecord(ex, "ColoConfigNotWritable", ErrorCategory.WriteError, path));
                return;
            }
            if (PassThru) WriteObject(Config);
        }
    }
}
