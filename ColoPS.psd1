# ColoPS module manifest. ModuleVersion here is the single source of the version:
# Directory.Build.props reads it for the assemblies, build.ps1 stages this file as is.
@{
    RootModule           = 'ColoPS.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0f2d9e-6c1a-4d8e-9a57-3f2c7e1b9d40'
    Author               = 'ColoPS developers'
    CompanyName          = 'ColoPS'
    Copyright            = '(c) ColoPS developers. MIT licence.'
    Description          = 'Run QEMU COLO fault tolerance from PowerShell: start a protected pair, read its status, fail over and re-protect, over a QMP session object.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('ColoPS.Format.ps1xml')
    CmdletsToExport      = @(
        'Connect-QmpSession', 'Get-QmpSession', 'Disconnect-QmpSession',
        'Invoke-QmpCommand', 'Get-QmpEvent', 'Wait-QmpEvent',
        'New-ColoConfig', 'Import-ColoConfig', 'Export-ColoConfig',
        'Start-ColoSecondary', 'Start-ColoPrimary', 'Get-ColoStatus',
        'Invoke-ColoFailover', 'Resume-ColoReplication', 'Stop-ColoNode', 'Connect-ColoNode', 'Get-ColoCommandLine',
        'New-ColoCertificate',
        'Start-ColoGuard', 'Get-ColoGuardStatus', 'Get-ColoGuardUnit'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('QEMU', 'COLO', 'QMP', 'FaultTolerance', 'HighAvailability', 'Linux', 'PSEdition_Core')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
