using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// Shows the QEMU invocation Start-ColoPrimary or Start-ColoSecondary runs for a site, for
    /// tooling that starts QEMU itself and hands it over with Start-ColoPrimary -Session.
    /// </summary>
    [Cmdlet(VerbsCommon.Get, "ColoCommandLine")]
    [OutputType(typeof(ColoCommandLine))]
    public sealed class GetColoCommandLineCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public ColoConfig Config { get; set; } = null!;

        [Parameter(Mandatory = true, Position = 1)]
        public ColoSite Site { get; set; }

        /// <summary>Primary or Secondary.</summary>
        [Parameter(Mandatory = true, Position = 2)]
        [ValidateSet(nameof(ColoRole.Primary), nameof(ColoRole.Secondary))]
        public ColoRole Role { get; set; }

        protected override void ProcessRecord()
        {
            try
            {
                WriteObject(Run(ct => ColoOperations.GetCommandLineAsync(Config, Site, Role, ct)));
            }
            catch (System.Exception ex) when (ex is ColoException || ex is QmpException)
            {
                WriteMappedError(ex, Format("{0}-{1}", Config.Name, Site));
            }
        }
    }
}
