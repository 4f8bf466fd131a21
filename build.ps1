#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages ColoPS.

.DESCRIPTION
    Tasks run in the order given:
      Clean    remove out/
      Build    compile and stage the module into out/ColoPS (what tests and users import)
      Help     regenerate en-US/ColoPS.dll-Help.xml from docs/en-US/*.md
      Test     install what the tests need (QEMU from apt, QEMU 11 into out/fixtures, Pester from NuGet), run xunit and Pester
               (-TestSuite xunit|Pester and -TestPath <file> narrow it while working on one suite)
      Demo     a COLO pair on loopback: start, status, failover, re-protect, clean up
      Package  a .nupkg of the staged module in out/
      Bench    benchmarks in bench/, printed as a table (checkpoints: bench/CHECKPOINTS.md, TLS: bench/TLS.md)

.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0, ValueFromRemainingArguments)]
    [ValidateSet('Clean', 'Build', 'Help', 'Test', 'Demo', 'Package', 'Bench')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Pester tags to leave out, e.g. 'Long' (the long proof runs only when asked for).
    [string[]] $ExcludeTag = @('Long'),

    # Pester tags to run; all when empty.
    [string[]] $Tag = @(),

    # Pester files or folders to run instead of tests/Pester (for working on one suite).
    [string[]] $TestPath = @(),

    # Which test suites Test runs.
    [ValidateSet('xunit', 'Pester')]
    [string[]] $TestSuite = @('xunit', 'Pester')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleOut = Join-Path $Out 'ColoPS'
$Results = Join-Path $Out 'TestResults'
$PesterVersion = '5.7.1'
# The pwsh that runs this script; under `dotnet pwsh` the process is dotnet, so take the apphost from $PSHOME.
$Pwsh = if (Test-Path (Join-Path $PSHOME 'pwsh')) { Join-Path $PSHOME 'pwsh' } else { (Get-Process -Id $PID).Path }

function Invoke-Native {
    # Runs a native command and stops the build when it fails.
    param([string] $File, [string[]] $Arguments)
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "'$File $($Arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Invoke-Clean {
    if (Test-Path $Out) { Remove-Item $Out -Recurse -Force }
}

function Invoke-Build {
    $publish = Join-Path $Out 'publish'
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/ColoPS/ColoPS.csproj'), '-c', $Configuration, '-o', $publish, '--nologo', '-v', 'quiet')

    if (Test-Path $ModuleOut) { Remove-Item $ModuleOut -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $ModuleOut, (Join-Path $ModuleOut 'en-US')
    foreach ($file in 'ColoPS.dll', 'ColoPS.pdb', 'ColoPS.Core.dll', 'ColoPS.Core.pdb') {
        $path = Join-Path $publish $file
        if (-not (Test-Path $path)) { throw "The build did not produce $file." }
        Copy-Item $path $ModuleOut
    }
    Copy-Item (Join-Path $Root 'ColoPS.psd1') $ModuleOut
    Copy-Item (Join-Path $Root 'src/ColoPS/ColoPS.Format.ps1xml') $ModuleOut
    Get-ChildItem (Join-Path $Root 'en-US') -File -ErrorAction Ignore | Copy-Item -Destination (Join-Path $ModuleOut 'en-US')
    Write-Host "Module staged in $ModuleOut"
}

function Invoke-Help {
    & (Join-Path $Root 'tools/New-ColoMaml.ps1') -MarkdownPath (Join-Path $Root 'docs/en-US') -OutputPath (Join-Path $Root 'en-US')
    Get-ChildItem (Join-Path $Root 'en-US') -File | Copy-Item -Destination (Join-Path $ModuleOut 'en-US') -ErrorAction Ignore
}

function Install-TestDependency {
    # Tool -> Debian package: QEMU itself, what the real-guest proof uses (xz for the kernel, ip for
    # namespaces), etcd for the witness tests (they start their own cluster on loopback), and openssl
    # and tshark for the TLS suite (certificates, hostile peers and captures).
    $needed = [ordered]@{ 'qemu-system-x86_64' = 'qemu-system-x86'; 'qemu-img' = 'qemu-utils'; 'xz' = 'xz-utils'; 'ip' = 'iproute2'; 'etcd' = 'etcd-server'; 'etcdctl' = 'etcd-client'; 'openssl' = 'openssl'; 'tshark' = 'tshark' }
    $missing = @($needed.Keys | Where-Object { -not (Get-Command $_ -ErrorAction Ignore) } | ForEach-Object { $needed[$_] })
    if ($missing) {
        Write-Host "Installing $($missing -join ', ') with apt-get."
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Native apt-get @('update', '-qq')
        Invoke-Native apt-get (@('install', '-y', '-qq') + $missing)
    }

    $packages = (& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    $pester = Join-Path $packages.Trim() "pester/$PesterVersion/tools/Pester.psd1"
    if (-not (Test-Path $pester)) {
        Write-Host "Restoring Pester $PesterVersion from NuGet."
        Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/tools/TestTools.csproj'), '--nologo', '-v', 'quiet')
    }
    if (-not (Test-Path $pester)) { throw "Pester was restored but $pester is missing." }

    # QEMU 11 is the reference platform (the first whose COLO checkpoints work under TCG); Debian 12
    # has 7.2, so 11 comes from its own trixie root, built once into out/fixtures. First on PATH for
    # everything this build starts: the suites, the demo and the benchmarks run on it. The host's
    # 7.2 stays reachable for the compatibility subset.
    Import-Module (Join-Path $Root 'tools/QemuFixture.psm1') -Force
    $qemu11 = Install-Qemu11Fixture -Directory (Join-Path $Out 'fixtures/qemu11')
    $env:COLOPS_QEMU72 = (Get-Command qemu-system-x86_64 -CommandType Application | Where-Object Source -NotLike "$($qemu11.BinDirectory)/*" | Select-Object -First 1).Source
    if (-not $env:PATH.StartsWith($qemu11.BinDirectory + [IO.Path]::PathSeparator)) { $env:PATH = $qemu11.BinDirectory + [IO.Path]::PathSeparator + $env:PATH }
    Write-Host "QEMU $($qemu11.Version) from $($qemu11.BinDirectory); QEMU 7.2 for the compatibility tests: $env:COLOPS_QEMU72"
    return $pester
}

function Invoke-XunitTest {
    $trx = 'xunit.trx'
    & dotnet test (Join-Path $Root 'tests/ColoPS.Tests/ColoPS.Tests.csproj') -c $Configuration --nologo `
        --logger "trx;LogFileName=$trx" --logger 'console;verbosity=minimal' --results-directory $Results | Out-Host
    $exit = $LASTEXITCODE
    $run = ([xml](Get-Content (Join-Path $Results $trx) -Raw)).TestRun
    $counters = $run.ResultSummary.Counters
    # The names go into the summary: a CI log that keeps only its tail must still say what failed.
    $failures = @($run.Results.UnitTestResult | Where-Object { $_.outcome -ne 'Passed' -and $_.outcome -ne 'NotExecuted' } | ForEach-Object {
            "$($_.testName): $((([string]$_.Output.ErrorInfo.Message) -split "`n")[0])"
        })
    return [pscustomobject]@{
        Suite    = 'xunit'
        Passed   = [int]$counters.passed
        Failed   = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
        Skipped  = [int]$counters.notExecuted
        Exit     = $exit
        Failures = $failures
    }
}

function Invoke-PesterTest {
    param([string] $PesterManifest)
    $resultFile = Join-Path $Results 'pester.xml'
    $summaryFile = Join-Path $Results 'pester-summary.json'
    # A fresh process: a module assembly cannot be unloaded, and the tests must import the staged build.
    $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$PesterManifest' -MinimumVersion $PesterVersion
`$c = New-PesterConfiguration
`$c.Run.Path = @($((@(if ($TestPath) { $TestPath | ForEach-Object { (Resolve-Path $_).Path } } else { Join-Path $Root 'tests/Pester' }) | ForEach-Object { "'$_'" }) -join ','))
`$c.Run.PassThru = `$true
`$c.Output.Verbosity = 'Detailed'
`$c.TestResult.Enabled = `$true
`$c.TestResult.OutputFormat = 'NUnitXml'
`$c.TestResult.OutputPath = '$resultFile'
`$c.Filter.ExcludeTag = @($(($ExcludeTag | ForEach-Object { "'$_'" }) -join ','))
$(if ($Tag) { "`$c.Filter.Tag = @($(($Tag | ForEach-Object { "'$_'" }) -join ','))" })
`$r = Invoke-Pester -Configuration `$c
`$failures = @(`$r.Failed | ForEach-Object { "`$(`$_.ExpandedPath): `$(((`$_.ErrorRecord | Select-Object -First 1) -as [string]) -split "``n" | Select-Object -First 1)" }) +
    @(`$r.FailedBlocks | ForEach-Object { "`$(`$_.ExpandedPath) (block): `$(((`$_.ErrorRecord | Select-Object -First 1) -as [string]) -split "``n" | Select-Object -First 1)" }) +
    @(`$r.FailedContainers | ForEach-Object { "`$(`$_.Item) (file): `$(((`$_.ErrorRecord | Select-Object -First 1) -as [string]) -split "``n" | Select-Object -First 1)" })
@{ Passed = `$r.PassedCount; Failed = `$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount; Skipped = `$r.SkippedCount + `$r.NotRunCount; Failures = `$failures } | ConvertTo-Json | Set-Content '$summaryFile'
exit ([int](`$r.Result -ne 'Passed'))
"@
    $env:COLOPS_MODULE = Join-Path $ModuleOut 'ColoPS.psd1'
    # Out-Host: the child's output is for the reader; only the summary object leaves this function.
    & $Pwsh -NoProfile -NonInteractive -Command $script | Out-Host
    $exit = $LASTEXITCODE
    $summary = if (Test-Path $summaryFile) { Get-Content $summaryFile -Raw | ConvertFrom-Json } else { [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0; Failures = @('Pester wrote no summary') } }
    return [pscustomobject]@{ Suite = 'Pester'; Passed = $summary.Passed; Failed = $summary.Failed; Skipped = $summary.Skipped; Exit = $exit; Failures = @($summary.Failures) }
}

function Get-HostState {
    # What the host holds before the tests, so that afterwards only what they added counts.
    [pscustomobject]@{
        Namespaces = @(Get-NetworkNamespace)
        Helpers = @(Get-Process -Name $script:TestHelperProcesses -ErrorAction Ignore | ForEach-Object Id)
    }
}

# Daemons and tools the suites start beside QEMU: the witness, captures, TLS probes.
$script:TestHelperProcesses = 'etcd', 'tshark', 'dumpcap', 'openssl', 'tcpdump'

function Get-NetworkNamespace {
    if (-not (Get-Command ip -ErrorAction Ignore)) { return }
    & ip netns list 2>$null | ForEach-Object { ($_ -split '\s+')[0] } | Where-Object { $_ }
}

function Test-NothingLeftBehind {
    # After every suite: no QEMU the tests started still runs, no QMP socket stays in their folders,
    # no network namespace and no daemon or tool they started is left. QEMU and sockets are scoped
    # to this run's folders (TestHelpers names them after COLOPS_TEST_RUN), namespaces and helper
    # processes to what was not there before the run, so a demo or a benchmark running beside the
    # tests is not mistaken for a leftover.
    param([Parameter(Mandatory)] $Before)
    $prefix = "/tmp/colops-t-$env:COLOPS_TEST_RUN-"
    $qemu = @(Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -and $_.CommandLine.Contains($prefix) })
    $sockets = @(Get-ChildItem "$prefix*" -Recurse -Filter *.qmp -ErrorAction Ignore)
    $namespaces = @(Get-NetworkNamespace | Where-Object { $_ -notin $Before.Namespaces })
    $helpers = @(Get-Process -Name $script:TestHelperProcesses -ErrorAction Ignore | Where-Object { $_.Id -notin $Before.Helpers })
    foreach ($p in $qemu) { Write-Host "Left running by the tests: pid $($p.Id) $($p.CommandLine)" -ForegroundColor Red; $p.Kill() }
    foreach ($f in $sockets) { Write-Host "Socket left by the tests: $($f.FullName)" -ForegroundColor Red }
    foreach ($n in $namespaces) { Write-Host "Network namespace left by the tests: $n" -ForegroundColor Red }
    foreach ($p in $helpers) { Write-Host "Left running by the tests: pid $($p.Id) $($p.CommandLine)" -ForegroundColor Red; $p.Kill() }
    $failed = [int]($qemu.Count -gt 0) + [int]($sockets.Count -gt 0) + [int]($namespaces.Count -gt 0) + [int]($helpers.Count -gt 0)
    $failures = @($qemu | ForEach-Object { "QEMU left running: pid $($_.Id)" }) + @($sockets | ForEach-Object { "socket left: $($_.FullName)" }) +
        @($namespaces | ForEach-Object { "network namespace left: $_" }) + @($helpers | ForEach-Object { "$($_.ProcessName) left running: pid $($_.Id)" })
    [pscustomobject]@{ Suite = 'Leftovers'; Passed = 4 - $failed; Failed = $failed; Skipped = 0; Exit = $failed; Failures = $failures }
}

function Invoke-Test {
    $pester = Install-TestDependency
    $env:COLOPS_TEST_RUN = [guid]::NewGuid().ToString('N').Substring(0, 6)
    if (Test-Path $Results) { Remove-Item $Results -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $Results
    $before = Get-HostState
    $suites = @(if ('xunit' -in $TestSuite) { Invoke-XunitTest }; if ('Pester' -in $TestSuite) { Invoke-PesterTest -PesterManifest $pester }; Test-NothingLeftBehind -Before $before)
    $suites | Format-Table Suite, Passed, Failed, Skipped, Exit -AutoSize | Out-Host
    $passed = ($suites | Measure-Object Passed -Sum).Sum
    $failed = ($suites | Measure-Object Failed -Sum).Sum
    $skipped = ($suites | Measure-Object Skipped -Sum).Sum
    foreach ($suite in $suites) {
        foreach ($f in @($suite.Failures)) { if ($f) { Write-Host "FAILED ($($suite.Suite)) $f" -ForegroundColor Red } }
    }
    Write-Host "Results in $Results"
    Write-Host "Tests: $passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0 -or @($suites | Where-Object { $_.Exit -ne 0 }).Count -gt 0) { throw 'Tests failed.' }
}

function Invoke-Demo {
    $null = Install-TestDependency
    & $Pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'tools/Start-ColoDemo.ps1') -ModulePath (Join-Path $ModuleOut 'ColoPS.psd1')
    if ($LASTEXITCODE -ne 0) { throw 'The demo failed.' }
}

function Invoke-Package {
    # Publish-PSResource to a temporary local repository, isolated from the user's PSResourceGet setup.
    $null = & (Join-Path $Root 'tools/New-ColoPackage.ps1') -ModulePath $ModuleOut -OutputPath $Out
}

function Invoke-Bench {
    # A fresh pwsh: the module assembly cannot be unloaded. COLOPS_BENCH_QUICK=1 asks for the short smoke run.
    $null = Install-TestDependency
    $quick = @(if ($env:COLOPS_BENCH_QUICK -and $env:COLOPS_BENCH_QUICK -ne '0') { '-Quick' })
    $failed = @()
    & $Pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'bench/Invoke-ColoBench.ps1') -ModulePath (Join-Path $ModuleOut 'ColoPS.psd1') @quick
    if ($LASTEXITCODE -ne 0) { $failed += 'bench/Invoke-ColoBench.ps1' }
    # Checkpoints with the real test guest on QEMU 11 (root, namespaces): report in bench/CHECKPOINTS.md (quick: out/bench).
    # Runs even when the first failed: the two measure different things.
    & $Pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'bench/Invoke-CheckpointBench.ps1') -ModulePath (Join-Path $ModuleOut 'ColoPS.psd1') @quick
    if ($LASTEXITCODE -ne 0) { $failed += 'bench/Invoke-CheckpointBench.ps1' }
    # The guard's automatic failover across site namespaces (root): report in bench/GUARD.md (quick: out/bench).
    & $Pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'bench/Invoke-GuardBench.ps1') -ModulePath (Join-Path $ModuleOut 'ColoPS.psd1') @quick
    if ($LASTEXITCODE -ne 0) { $failed += 'bench/Invoke-GuardBench.ps1' }
    # TLS on every COLO link against the same pair in clear (bench/TLS.md; quick: out/bench/TLS.md).
    & $Pwsh -NoProfile -NonInteractive -File (Join-Path $Root 'bench/Invoke-TlsBench.ps1') -ModulePath (Join-Path $ModuleOut 'ColoPS.psd1') @quick
    if ($LASTEXITCODE -ne 0) { $failed += 'bench/Invoke-TlsBench.ps1' }
    if ($failed) { throw "The benchmarks failed: $($failed -join ', ')." }
}

$needsBuild = $Task | Where-Object { $_ -in 'Help', 'Test', 'Demo', 'Package', 'Bench' }
if ($needsBuild -and 'Build' -notin $Task) {
    $Task = @($Task | Where-Object { $_ -eq 'Clean' }) + 'Build' + @($Task | Where-Object { $_ -ne 'Clean' })
}
foreach ($t in $Task) {
    Write-Host "== $t" -ForegroundColor Cyan
    & "Invoke-$t"
}
