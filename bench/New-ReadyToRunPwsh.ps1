<#
.SYNOPSIS
    Makes a ReadyToRun copy of a pwsh folder and returns the path of its pwsh executable.

.DESCRIPTION
    The pwsh of the tool manifest (the PowerShell .NET tool) ships IL only: PowerShell's own
    PowerShell.Common.props turns ReadyToRun off for framework-dependent builds and on for the
    Release builds that become its tar.gz, deb and rpm packages. An IL-only pwsh compiles thousands
    of its own methods at every start, and a thousand more for any Import-Module, so a cold start
    measured with it says more about PowerShell's JIT than about a module.

    This script copies the folder and runs crossgen2 (the compiler the SDK uses for
    PublishReadyToRun) on every managed assembly in it, as PowerShell's Release build does, so the
    cold-start benchmark can also measure a pwsh built the way operators install it. crossgen2
    comes from NuGet (Microsoft.NETCore.App.Crossgen2.<rid>, restored by a throw-away project with
    PublishReadyToRun; the SDK picks its version). Every input is read from the untouched source
    folder: crossgen2 maps its references, and rewriting a mapped file under it kills it with
    SIGBUS. An assembly crossgen2 cannot compile, or compiles for longer than -TimeoutSeconds, stays
    IL; the stamp file lists them.

    The copy is kept under -Destination with a stamp naming the source's PowerShell version, and
    reused while that stamp matches.

.PARAMETER Source
    The pwsh folder to copy ($PSHOME by default).

.PARAMETER Destination
    Where the ReadyToRun copy goes (out/bench/pwsh-r2r by default).

.PARAMETER TimeoutSeconds
    The longest one assembly may take to compile (120 s by default).

.OUTPUTS
    System.String. The path of the copy's pwsh executable.

.EXAMPLE
    $r2r = ./bench/New-ReadyToRunPwsh.ps1
    & $r2r -NoProfile -c '$PSVersionTable.PSVersion'
#>
[CmdletBinding()]
[OutputType([string])]
param(
    [string] $Source = $PSHOME,
    [string] $Destination = (Join-Path $PSScriptRoot '../out/bench/pwsh-r2r'),
    [ValidateRange(10, 3600)]
    [int] $TimeoutSeconds = 120
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Source = (Resolve-Path -LiteralPath $Source).ProviderPath
$Destination = [System.IO.Path]::GetFullPath($Destination)
$exeName = if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' }
$sourceVersion = (Get-Item -LiteralPath (Join-Path $Source 'System.Management.Automation.dll')).VersionInfo.ProductVersion
$stampPath = Join-Path $Destination 'colops-r2r.stamp'
if ((Test-Path -LiteralPath $stampPath) -and ((Get-Content -LiteralPath $stampPath -TotalCount 1) -eq "source $Source $sourceVersion")) {
    return (Join-Path $Destination $exeName)
}

# Portable identifiers (linux-x64, osx-arm64, win-x64) since .NET 8; crossgen2 calls Windows "windows".
$rid = [System.Runtime.InteropServices.RuntimeInformation]::RuntimeIdentifier
$os = ($rid -split '-')[0] -replace '^win$', 'windows'
$arch = ($rid -split '-')[-1]
$framework = [System.Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()

function Get-Crossgen2 {
    # A restore with PublishReadyToRun and a runtime identifier brings the SDK's crossgen2 pack.
    $project = Join-Path ([System.IO.Path]::GetTempPath()) ('colops-crossgen-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $null = New-Item -ItemType Directory -Path $project
    try {
        $tfm = "net$([Environment]::Version.Major).$([Environment]::Version.Minor)"
        Set-Content -LiteralPath (Join-Path $project 'crossgen.csproj') -Value @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>$tfm</TargetFramework>
    <RuntimeIdentifier>$rid</RuntimeIdentifier>
    <SelfContained>false</SelfContained>
    <PublishReadyToRun>true</PublishReadyToRun>
  </PropertyGroup>
</Project>
"@
        $restore = & dotnet restore (Join-Path $project 'crossgen.csproj') 2>&1
        if ($LASTEXITCODE -ne 0) { throw "dotnet restore of the crossgen2 pack failed:`n$($restore -join "`n")" }
        $assets = Get-Content -LiteralPath (Join-Path $project 'obj/project.assets.json') -Raw | ConvertFrom-Json -AsHashtable
        $root = @($assets.packageFolders.Keys)[0]
        $pack = @($assets.project.frameworks.Values)[0].downloadDependencies |
            Where-Object { $_.name -like 'Microsoft.NETCore.App.Crossgen2*' } | Select-Object -First 1
        if (-not $pack) { throw 'The restore named no crossgen2 pack.' }
        $version = $pack.version -replace '^\[|,.*$|\]$', ''
        $exe = Join-Path $root "$($pack.name.ToLowerInvariant())/$version/tools/crossgen2$(if ($IsWindows) { '.exe' })"
        if (-not (Test-Path -LiteralPath $exe)) { throw "crossgen2 is not at $exe after the restore." }
        $exe
    }
    finally { Remove-Item -LiteralPath $project -Recurse -Force -ErrorAction Ignore }
}

function Test-IlAssembly([string] $Path) {
    # Managed, and not ReadyToRun already (a ReadyToRun image has a managed native header).
    $stream = [System.IO.File]::OpenRead($Path)
    try {
        $pe = [System.Reflection.PortableExecutable.PEReader]::new($stream)
        try { $pe.HasMetadata -and $pe.PEHeaders.CorHeader.ManagedNativeHeaderDirectory.Size -eq 0 }
        finally { $pe.Dispose() }
    }
    catch [System.BadImageFormatException] { $false }
    finally { $stream.Dispose() }
}

$crossgen = Get-Crossgen2
$staging = "$Destination.tmp"
Remove-Item -LiteralPath $staging, $Destination -Recurse -Force -ErrorAction Ignore
$null = New-Item -ItemType Directory -Path (Split-Path $Destination) -Force
Copy-Item -LiteralPath $Source -Destination $staging -Recurse

# Platform folders under runtimes/ hold assemblies for other systems; the top level and Modules/
# are what this pwsh loads.
$assemblies = @(Get-ChildItem -LiteralPath $Source -Filter '*.dll' -File) +
    @(Get-ChildItem -LiteralPath (Join-Path $Source 'Modules') -Filter '*.dll' -File -Recurse -ErrorAction Ignore) |
    Where-Object { Test-IlAssembly $_.FullName }
$kept = [System.Collections.Generic.List[string]]::new()
$clock = [System.Diagnostics.Stopwatch]::StartNew()
$i = 0
foreach ($assembly in $assemblies) {
    $i++
    $relative = [System.IO.Path]::GetRelativePath($Source, $assembly.FullName)
    Write-Progress -Activity "crossgen2 ($($assemblies.Count) assemblies)" -Status $relative -PercentComplete (100 * $i / $assemblies.Count)
    $target = Join-Path $staging $relative
    $log = "$target.crossgen.log"
    $arguments = @($assembly.FullName, '-o', $target, '-r', (Join-Path $framework '*.dll'), '-r', (Join-Path $Source '*.dll'),
        '-r', (Join-Path $assembly.DirectoryName '*.dll'), "--targetos:$os", "--targetarch:$arch", '-O')
    $process = Start-Process -FilePath $crossgen -ArgumentList $arguments -PassThru -NoNewWindow -RedirectStandardOutput $log -RedirectStandardError "$log.err"
    $done = $process.WaitForExit($TimeoutSeconds * 1000)
    if (-not $done) { $process.Kill($true); $null = $process.WaitForExit(10000) }
    if (-not $done -or $process.ExitCode -ne 0) {
        Copy-Item -LiteralPath $assembly.FullName -Destination $target -Force
        $kept.Add("$relative ($(if ($done) { "exit $($process.ExitCode)" } else { "over $TimeoutSeconds s" }))")
    }
    Remove-Item -LiteralPath $log, "$log.err" -ErrorAction Ignore
}
Write-Progress -Activity 'crossgen2' -Completed
Set-Content -LiteralPath (Join-Path $staging 'colops-r2r.stamp') -Value (@("source $Source $sourceVersion",
        "crossgen2 $crossgen, $($assemblies.Count - $kept.Count) of $($assemblies.Count) assemblies compiled in $([math]::Round($clock.Elapsed.TotalSeconds)) s") +
    @($kept | ForEach-Object { "left IL: $_" }))
Move-Item -LiteralPath $staging -Destination $Destination
Write-Verbose "ReadyToRun pwsh in $Destination ($($assemblies.Count - $kept.Count) of $($assemblies.Count) assemblies compiled; left IL: $($kept.Count))."
Join-Path $Destination $exeName
