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

    The copy is kept under -Destination with a stamp naming the source, its PowerShell version and
    this script's format, and reused while that stamp matches. A copy in which any assembly stayed
    IL gets no stamp (the next run tries again) and a warning: it would measure a different pwsh.
    A -Destination that exists, is not empty and has no stamp is refused rather than replaced.

.PARAMETER Source
    The pwsh folder to copy ($PSHOME by default).

.PARAMETER Destination
    Where the ReadyToRun copy goes (out/bench/pwsh-r2r by default).

.PARAMETER TimeoutSeconds
    The longest one assembly may take to compile (120 s by default), and the longest the restore
    of crossgen2 may take.

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
$stampKey = "colops-r2r 1; source $Source $sourceVersion"
if ((Test-Path -LiteralPath $stampPath) -and ((Get-Content -LiteralPath $stampPath -TotalCount 1) -eq $stampKey)) {
    return (Join-Path $Destination $exeName)
}
# The copy replaces the folder: never a folder this script did not make.
$ours = (Test-Path -LiteralPath $stampPath) -or (Test-Path -LiteralPath (Join-Path $Destination 'colops-r2r.summary'))
if (-not $ours -and (Test-Path -LiteralPath $Destination) -and
    @(Get-ChildItem -LiteralPath $Destination -Force).Count -gt 0) {
    throw "$Destination exists and holds files this script did not make; give an empty or new folder as -Destination."
}

# A distribution's own .NET can report a RuntimeIdentifier such as ubuntu.24.04-x64, which names no
# crossgen2 pack: build the portable one.
$os = if ($IsWindows) { 'windows' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
$arch = [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant()
$rid = "$($os -replace '^windows$', 'win')-$arch"
$framework = [System.Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()

function Invoke-Tool([string] $FilePath, [string[]] $Arguments, [string] $Log) {
    # ProcessStartInfo.ArgumentList quotes each argument (Start-Process joins them with spaces), and
    # the wait has a timeout; the output goes to $Log for the failure's reason.
    $info = [System.Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $Arguments) { $info.ArgumentList.Add($a) }
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($info)
    try {
        $out = $process.StandardOutput.ReadToEndAsync()
        $err = $process.StandardError.ReadToEndAsync()
        # Short waits, so that Ctrl+C stops the script between them.
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while (-not $process.WaitForExit(200)) {
            if ([DateTime]::UtcNow -gt $deadline) { $process.Kill($true); $null = $process.WaitForExit(10000); return "over $TimeoutSeconds s" }
        }
        $process.WaitForExit()
        Set-Content -LiteralPath $Log -Value ($out.Result + $err.Result)
        if ($process.ExitCode -ne 0) { return "exit $($process.ExitCode)" }
        $null
    }
    finally {
        if (-not $process.HasExited) { $process.Kill($true) }
        $process.Dispose()
    }
}

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
        $log = Join-Path $project 'restore.log'
        $failure = Invoke-Tool 'dotnet' @('restore', (Join-Path $project 'crossgen.csproj')) $log
        if ($failure) { throw "dotnet restore of the crossgen2 pack failed ($failure):`n$(Get-Content -LiteralPath $log -Raw -ErrorAction Ignore)" }
        $assets = Get-Content -LiteralPath (Join-Path $project 'obj/project.assets.json') -Raw | ConvertFrom-Json -AsHashtable
        $pack = @($assets.project.frameworks.Values)[0].downloadDependencies |
            Where-Object { $_.name -like 'Microsoft.NETCore.App.Crossgen2*' } | Select-Object -First 1
        if (-not $pack) { throw 'The restore named no crossgen2 pack.' }
        $version = $pack.version -replace '^\[|,.*$|\]$', ''
        $relative = "$($pack.name.ToLowerInvariant())/$version/tools/crossgen2$(if ($IsWindows) { '.exe' })"
        $exe = @($assets.packageFolders.Keys | ForEach-Object { Join-Path $_ $relative } | Where-Object { Test-Path -LiteralPath $_ })
        if ($exe.Count -eq 0) { throw "crossgen2 ($relative) is in none of the restore's package folders." }
        $exe[0]
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
try {
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
        $failure = Invoke-Tool $crossgen @($assembly.FullName, '-o', $target, '-r', (Join-Path $framework '*.dll'),
            '-r', (Join-Path $Source '*.dll'), '-r', (Join-Path $assembly.DirectoryName '*.dll'), "--targetos:$os", "--targetarch:$arch", '-O') $log
        if ($failure) {
            Copy-Item -LiteralPath $assembly.FullName -Destination $target -Force
            $why = (Get-Content -LiteralPath $log -Tail 1 -ErrorAction Ignore) -join ''
            $kept.Add("$relative ($failure$(if ($why) { ": $why" }))")
        }
        Remove-Item -LiteralPath $log -ErrorAction Ignore
    }
    Write-Progress -Activity 'crossgen2' -Completed
    $summary = "crossgen2 $crossgen, $($assemblies.Count - $kept.Count) of $($assemblies.Count) assemblies compiled in $([math]::Round($clock.Elapsed.TotalSeconds)) s"
    Set-Content -LiteralPath (Join-Path $staging 'colops-r2r.summary') -Value (@($summary) + @($kept | ForEach-Object { "left IL: $_" }))
    if ($kept.Count -eq 0) { Set-Content -LiteralPath (Join-Path $staging 'colops-r2r.stamp') -Value @($stampKey, $summary) }
    else { Write-Warning "$($kept.Count) assemblies stayed IL, so this copy is not wholly ReadyToRun and gets no stamp: $($kept -join '; ')" }
    Move-Item -LiteralPath $staging -Destination $Destination
}
finally {
    Write-Progress -Activity 'crossgen2' -Completed
    Remove-Item -LiteralPath $staging -Recurse -Force -ErrorAction Ignore
}
Write-Verbose "ReadyToRun pwsh in $Destination ($summary)."
Join-Path $Destination $exeName
