#Requires -Version 7.4
<#
.SYNOPSIS
    Packs the staged ColoPS module into out/ColoPS.<version>.nupkg with PSResourceGet.

.DESCRIPTION
    Publish-PSResource is pointed at a temporary local folder repository, and the .nupkg it
    writes there is moved to -OutputPath. The user's own PSResourceGet configuration is never
    touched: the work runs in a child pwsh whose HOME and XDG data, config and cache folders
    (where PSResourceGet keeps its repository store and CurrentUser modules, and NuGet its
    settings) are temporary folders.
    The temporary repository is still unregistered in a finally block, and the temporary
    folders are removed whatever happens.

    The module is packed exactly as staged by `build.ps1 Build` (out/ColoPS): run that first.

.PARAMETER ModulePath
    The staged module folder (the folder holding ColoPS.psd1). Default: out/ColoPS.

.PARAMETER OutputPath
    Where the .nupkg goes. Default: out. An existing package of the same version is replaced.

.OUTPUTS
    System.IO.FileInfo of the package.

.EXAMPLE
    dotnet pwsh ./build.ps1 Package

.EXAMPLE
    ./tools/New-ColoPackage.ps1 -ModulePath out/ColoPS -OutputPath out
#>
[CmdletBinding()]
[OutputType([System.IO.FileInfo])]
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ColoPS'),
    [string] $OutputPath = (Join-Path $PSScriptRoot '../out')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

function Get-PwshInvocation {
    # The running pwsh, as a command line prefix: its pwsh executable when $PSHOME has one. Under
    # `dotnet pwsh` (a .NET tool) without it, the process is dotnet itself, and pwsh.dll has to be named after it.
    $apphost = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' })
    if (Test-Path -LiteralPath $apphost) { return @($apphost) }
    $exe = [System.Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        return @($exe, (Join-Path $PSHOME 'pwsh.dll'))
    }
    return @($exe)
}

$ModulePath = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
$manifestPath = Join-Path $ModulePath 'ColoPS.psd1'
if (-not (Test-Path -LiteralPath $manifestPath)) { throw "No ColoPS.psd1 in $ModulePath; run 'build.ps1 Build' first." }
if ((Split-Path -Leaf $ModulePath) -ne 'ColoPS') { throw "Publish-PSResource needs the module folder to be named ColoPS, not '$(Split-Path -Leaf $ModulePath)'." }
$manifest = Import-PowerShellDataFile -LiteralPath $manifestPath
$version = [string]$manifest.ModuleVersion
$prerelease = if ($manifest['PrivateData'] -and $manifest.PrivateData['PSData']) { $manifest.PrivateData.PSData['Prerelease'] } else { $null }
if ($prerelease) { $version = "$version-$prerelease" }

$null = New-Item -ItemType Directory -Force -Path $OutputPath
$OutputPath = (Resolve-Path -LiteralPath $OutputPath).ProviderPath

$temp = Join-Path ([System.IO.Path]::GetTempPath()) ('colops-pkg-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
try {
    $repo = Join-Path $temp 'repo'
    $tempHome = Join-Path $temp 'home'
    $isolated = @{
        HOME            = $tempHome
        XDG_DATA_HOME   = Join-Path $tempHome '.local/share'
        XDG_CONFIG_HOME = Join-Path $tempHome '.config'
        XDG_CACHE_HOME  = Join-Path $tempHome '.cache'
    }
    $null = New-Item -ItemType Directory -Force -Path (@($repo) + @($isolated.Values))
    $repoName = 'ColoPSBuild' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script = Join-Path $temp 'publish.ps1'
    Set-Content -LiteralPath $script -Value @'
param([string] $ModulePath, [string] $Repository, [string] $Name)
$ErrorActionPreference = 'Stop'
# PSResourceGet keeps its repository store under LocalApplicationData (XDG_DATA_HOME) and its
# CurrentUser folder under HOME: make sure both are the temporary ones (.NET returns an empty
# LocalApplicationData when the XDG_DATA_HOME folder is missing).
if (-not $env:XDG_DATA_HOME -or [Environment]::GetFolderPath('LocalApplicationData') -ne $env:XDG_DATA_HOME -or -not $env:XDG_DATA_HOME.StartsWith("$env:HOME/")) {
    throw "Not isolated: HOME='$env:HOME', XDG_DATA_HOME='$env:XDG_DATA_HOME'."
}
Import-Module Microsoft.PowerShell.PSResourceGet
Register-PSResourceRepository -Name $Name -Uri $Repository -Trusted
try {
    Publish-PSResource -Path $ModulePath -Repository $Name
}
finally {
    Unregister-PSResourceRepository -Name $Name
}
'@

    # The child gets its own environment; this process's HOME and XDG folders stay as they are.
    $pwsh = @(Get-PwshInvocation)
    $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
    foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $script, '-ModulePath', $ModulePath, '-Repository', $repo, '-Name', $repoName)) {
        $psi.ArgumentList.Add($a)
    }
    $psi.UseShellExecute = $false
    foreach ($k in $isolated.Keys) { $psi.Environment[$k] = $isolated[$k] }
    $child = [System.Diagnostics.Process]::Start($psi)
    $child.WaitForExit()
    if ($child.ExitCode -ne 0) { throw "Publish-PSResource of $ModulePath failed (exit code $($child.ExitCode))." }

    $packages = @(Get-ChildItem -LiteralPath $repo -Filter '*.nupkg')
    if ($packages.Count -ne 1) { throw "Expected one .nupkg in the temporary repository, found $($packages.Count)." }
    $target = Join-Path $OutputPath "ColoPS.$version.nupkg"
    if ($packages[0].Name -ne "ColoPS.$version.nupkg") {
        Write-Warning "Publish-PSResource named the package $($packages[0].Name); it is saved as ColoPS.$version.nupkg."
    }
    Move-Item -LiteralPath $packages[0].FullName -Destination $target -Force
    Write-Host "Package written: $target"
    Get-Item -LiteralPath $target
}
finally {
    Remove-Item -LiteralPath $temp -Recurse -Force -ErrorAction Ignore
}
