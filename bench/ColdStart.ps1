# The cold-start benchmark of Invoke-ColoBench.ps1, dot-sourced by it: it uses that script's
# $ModulePath, $Root, $Quick, Add-Sample, Write-Step and Get-PwshInvocation.

function New-FloorModule {
    $dir = Join-Path $Root 'floor'
    $manifest = Join-Path $dir 'Floor.psd1'
    if (Test-Path $manifest) { return $manifest }
    $null = New-Item -ItemType Directory -Path $dir
    Add-Type -OutputAssembly (Join-Path $dir 'Floor.dll') -OutputType Library -TypeDefinition @'
using System.Management.Automation;
[Cmdlet(VerbsCommon.Get, "FloorThing")] public sealed class GetFloorThing : PSCmdlet { [Parameter] public string Name { get; set; } protected override void ProcessRecord() { WriteObject(Name); } }
[Cmdlet(VerbsCommon.Set, "FloorThing")] public sealed class SetFloorThing : PSCmdlet { [Parameter] public string Name { get; set; } protected override void ProcessRecord() { WriteObject(Name); } }
'@
    New-ModuleManifest -Path $manifest -RootModule 'Floor.dll' -CmdletsToExport 'Get-FloorThing', 'Set-FloorThing'
    $manifest
}

$ColdStartPwsh = $null
$ColdStartR2RNote = ''
function Get-ColdStartPwsh {
    # Two builds of the same pwsh: the tool manifest's, IL only, and a ReadyToRun copy of it,
    # compiled like PowerShell's Release packages (bench/New-ReadyToRunPwsh.ps1; made once, then
    # reused). Without the copy (no SDK, no NuGet) the IL rows still run.
    if (-not $script:ColdStartPwsh) {
        $builds = @(@{ Key = 'cold'; Name = 'tool-manifest pwsh (IL only)'; Invocation = @(Get-PwshInvocation) })
        Write-Step '  cold start: making (or reusing) a ReadyToRun copy of this pwsh'
        try {
            $r2r = & (Join-Path $PSScriptRoot 'New-ReadyToRunPwsh.ps1') -WarningVariable r2rWarnings
            $summary = Get-Content -LiteralPath (Join-Path (Split-Path $r2r) 'colops-r2r.summary') -TotalCount 1 -ErrorAction Ignore
            $script:ColdStartR2RNote = " and its ReadyToRun copy $r2r ($summary$(if ($r2rWarnings) { '; NOT WHOLLY ReadyToRun' }))"
            $builds += @{ Key = 'cold.r2r'; Name = 'ReadyToRun pwsh'; Invocation = @($r2r) }
        }
        catch {
            Write-Warning "No ReadyToRun pwsh, so no ReadyToRun rows: $($_.Exception.Message)"
            $script:ColdStartR2RNote = " (no ReadyToRun copy: $($_.Exception.Message -replace '\s+', ' '))"
        }
        $script:ColdStartPwsh = $builds
    }
    $script:ColdStartPwsh
}

function Get-ColdStartPwshNote { $script:ColdStartR2RNote }

function Invoke-ColdStartBench([int] $Run) {
    $importOnly = "Import-Module '$($ModulePath -replace "'", "''")'"
    # The row the issue's figure came from: Get-Command -Module also searches PSModulePath for
    # modules not yet imported, which costs the same whatever the module.
    $import = "$importOnly; Get-Command -Module ColoPS | Out-Null"
    # The floor: a binary module of two empty cmdlets, which shows what any binary module costs.
    $floorModule = New-FloorModule
    $floor = "Import-Module '$floorModule'; Get-Command -Module Floor | Out-Null"
    $measure = {
        param([string[]] $Invocation, [string] $Command)
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        & $Invocation[0] @($Invocation | Select-Object -Skip 1) -NoProfile -c $Command
        $ms = $sw.Elapsed.TotalMilliseconds
        if ($LASTEXITCODE -ne 0) { throw "$($Invocation -join ' ') -c $Command exited with $LASTEXITCODE." }
        $ms
    }
    $builds = @(Get-ColdStartPwsh)
    # Both builds in every round, so a change in the machine's load reaches both; the order of the
    # builds and of the commands alternates so that neither always runs on a warmer machine. A
    # run's figure is the mean of its rounds.
    $rounds = if ($Quick) { 2 } else { 4 }
    $sum = @{}
    foreach ($b in $builds) { $sum[$b.Key] = @{ bare = 0.0; floor = 0.0; loaded = 0.0; only = 0.0 } }
    for ($i = 0; $i -lt $rounds; $i++) {
        $forward = ($Run + $i) % 2 -eq 0
        $buildOrder = if ($forward) { $builds } else { @($builds)[($builds.Count - 1)..0] }
        foreach ($b in $buildOrder) {
            $order = if ($forward) { 'bare', 'floor', 'loaded', 'only' } else { 'only', 'loaded', 'floor', 'bare' }
            foreach ($v in $order) {
                $command = switch ($v) { 'bare' { 'exit' } 'floor' { $floor } 'loaded' { $import } 'only' { $importOnly } }
                $sum[$b.Key][$v] += & $measure $b.Invocation $command
            }
        }
    }
    foreach ($b in $builds) {
        $m = $sum[$b.Key]
        $bare = $m.bare / $rounds; $floored = $m.floor / $rounds; $loaded = $m.loaded / $rounds; $only = $m.only / $rounds
        Add-Sample $b.Key $loaded $bare
        Add-Sample "$($b.Key).import" $only $bare
        Add-Sample "$($b.Key).floor" $floored $bare
        Add-Sample "$($b.Key).overfloor" $loaded $floored
        Write-Step ("  cold start, {4}: bare pwsh {0:N0} ms, with a two-cmdlet binary module {3:N0} ms, with Import-Module ColoPS and Get-Command {1:N0} ms, Import-Module ColoPS alone {5:N0} ms (mean of {2} rounds)" -f $bare, $loaded, $rounds, $floored, $b.Name, $only)
    }
}
