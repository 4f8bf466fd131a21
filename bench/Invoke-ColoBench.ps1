#Requires -Version 7.4
<#
.SYNOPSIS
    Benchmarks ColoPS against raw QMP baselines measured in the same run, and prints a Markdown table.

.DESCRIPTION
    Each benchmark times a ColoPS path and a raw path doing the same work against the same kind of
    QEMU (or fake monitor) in the same run, and reports the median and the spread (min-max) over
    -Runs runs, plus the ratio ColoPS / raw computed run by run.

      RoundTrip  query-status round trips on one connection to a paused QEMU: a raw socket loop;
                 the C# API (compiled loops, and a PowerShell for loop); Invoke-QmpCommand; and 8
                 concurrent callers on one QmpSession against a raw client pipelining 8 requests.
      Colo       a COLO pair on loopback (TCG, 128 MiB guest, 1 GiB disk, no periodic checkpoint):
                 protect (Start-ColoPrimary), secondary failover after SIGKILL of the primary
                 (Invoke-ColoFailover), resume (Resume-ColoReplication) - against the same plan steps
                 (ColoPlans) sent by a minimal raw client with the same waits and the same 50 ms poll.
      ColdStart  pwsh -NoProfile -c 'Import-Module ...; Get-Command -Module ColoPS' against
                 pwsh -c exit and against a two-cmdlet binary module, and Import-Module alone,
                 with two builds of the same pwsh: the tool manifest's (IL only) and a ReadyToRun
                 copy of it (bench/New-ReadyToRunPwsh.ps1, made once in out/bench/pwsh-r2r, about
                 90 s), compiled the way PowerShell's Release packages are.
      Events     100,000 events from a fake QMP monitor (unix socket, in process) into a QmpSession,
                 against a raw line reader; and the managed memory the session holds after 100k and
                 200k events (bounded by its event history).

    Every QEMU the benchmarks start and every folder they create (/tmp/colops-bench-*) is removed
    in finally blocks. Port ranges start at 31000.

.PARAMETER ModulePath
    The staged module manifest (out/ColoPS/ColoPS.psd1).

.PARAMETER Runs
    Runs of every benchmark (default 5; 1 with -Quick).

.PARAMETER Quick
    A short smoke run: one run, 1,000 round trips instead of 5,000. Under 3 minutes on 2 cores.
    build.ps1 Bench passes it when the environment variable COLOPS_BENCH_QUICK is set.

.PARAMETER Only
    Run only these benchmarks: RoundTrip, Colo, ColdStart, Events.

.PARAMETER OutputPath
    Also write the Markdown report to this file.

.EXAMPLE
    dotnet pwsh ./build.ps1 Bench

.EXAMPLE
    dotnet pwsh bench/Invoke-ColoBench.ps1 -ModulePath out/ColoPS/ColoPS.psd1 -Quick
#>
[CmdletBinding()]
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ColoPS/ColoPS.psd1'),
    [ValidateRange(1, 20)]
    [int] $Runs = 5,
    [switch] $Quick,
    # RoundTrip, Colo, ColdStart, Events; a comma-separated string works too (pwsh -File passes one).
    [string[]] $Only = @('RoundTrip', 'Colo', 'ColdStart', 'Events'),
    [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$ProgressPreference = 'SilentlyContinue'

$Only = @($Only | ForEach-Object { $_ -split ',' } | ForEach-Object Trim | Where-Object { $_ })
foreach ($o in $Only) {
    if ($o -notin 'RoundTrip', 'Colo', 'ColdStart', 'Events') { throw "-Only: unknown benchmark '$o'; use RoundTrip, Colo, ColdStart or Events." }
}
if ($Quick -and -not $PSBoundParameters.ContainsKey('Runs')) { $Runs = 1 }
$Calls = if ($Quick) { 1000 } else { 5000 }
$Warmup = 200
# .NET moves a method to optimized code only after 30 calls and a quiet 100 ms of tier-0 compiling,
# and a loop of 200 calls takes about as long: each loop also runs for this long before it is timed.
$WarmupSeconds = if ($Quick) { 1 } else { 3 }
$EventCount = 100000
$Callers = 8
# Below Linux's ephemeral range (32768-60999): at 47000 a run once lost its migration port to an
# outgoing connection's local port, and QEMU could not listen.
$PortBase = 31000

$ModulePath = (Resolve-Path $ModulePath).ProviderPath
Import-Module $ModulePath -Force
$module = Get-Module ColoPS
$core = Join-Path $module.ModuleBase 'ColoPS.Core.dll'
$references = @($core) + @('System.Text.Json', 'System.Net.Sockets', 'System.Net.Primitives', 'System.Collections', 'System.Linq',
    'System.Diagnostics.Process', 'System.Threading', 'System.Threading.Thread', 'System.Memory', 'System.Runtime',
    'System.ComponentModel.Primitives', 'System.Text.Encoding.Extensions')
if (-not ('ColoBench.RawQmp' -as [type])) {
    Add-Type -Path (Join-Path $PSScriptRoot 'ColoBench.cs') -ReferencedAssemblies $references -IgnoreWarnings -WarningAction SilentlyContinue
}

$LoadAtStart = (Get-Content /proc/loadavg -ErrorAction Ignore) -replace '^(\S+ \S+ \S+).*$', '$1'
$Root = Join-Path '/tmp' ('colops-bench-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $Root
if (-not $IsWindows) { chmod 700 $Root }

#region Helpers

$Samples = [ordered]@{}
function Add-Sample {
    param([string] $Key, [double] $ColoPS, [double] $Raw)
    if (-not $Samples.Contains($Key)) { $Samples[$Key] = [System.Collections.Generic.List[object]]::new() }
    $Samples[$Key].Add([pscustomobject]@{ ColoPS = $ColoPS; Raw = $Raw; Ratio = $(if ($Raw -gt 0) { $ColoPS / $Raw } else { [double]::NaN }); Difference = $ColoPS - $Raw })
}
$Memory = [ordered]@{}
function Add-Memory {
    param([string] $Key, [double] $Value)
    if (-not $Memory.Contains($Key)) { $Memory[$Key] = [System.Collections.Generic.List[double]]::new() }
    $Memory[$Key].Add($Value)
}

function Write-Step([string] $Text) { Write-Host ("[{0:HH:mm:ss}] {1}" -f (Get-Date), $Text) }

function Get-PwshInvocation {
    # The running pwsh's own executable when $PSHOME has one (what `pwsh` is for users). Under
    # `dotnet pwsh` (a .NET tool) without it, the process is dotnet itself and pwsh.dll is named after it.
    $apphost = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' })
    if (Test-Path -LiteralPath $apphost) { return @($apphost) }
    $exe = [System.Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($exe)
}

function New-BenchDirectory([string] $Name) {
    $path = Join-Path $Root $Name
    $null = New-Item -ItemType Directory -Path $path
    if (-not $IsWindows) { chmod 700 $path }
    $path
}

function Stop-QemuUnder([string] $Directory) {
    Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$Directory*" } | ForEach-Object {
        Stop-Process -Id $_.Id -Force -ErrorAction Ignore
        $null = $_.WaitForExit(10000)
    }
}

function Close-SessionsUnder([string] $Directory) {
    Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$Directory*" } | Disconnect-QmpSession -Confirm:$false
}

function Start-PausedQemu {
    # A paused (-S), display-less QEMU with QMP on a unix socket, as the Pester suites use.
    param([string] $Directory, [string] $Name)
    $socket = Join-Path $Directory "$Name.qmp"
    $psi = [System.Diagnostics.ProcessStartInfo]::new('qemu-system-x86_64')
    foreach ($a in '-nodefaults', '-display', 'none', '-S', '-m', '64', '-machine', 'pc', '-accel', 'tcg', '-name', $Name, '-qmp', "unix:$socket,server=on,wait=off") {
        $psi.ArgumentList.Add($a)
    }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardOutput = $true
    $process = [System.Diagnostics.Process]::Start($psi)
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (-not (Test-Path $socket)) {
        if ($process.HasExited) { throw "QEMU exited at start: $($process.StandardError.ReadToEnd())" }
        if ([DateTime]::UtcNow -gt $deadline) { $process.Kill(); throw "QEMU did not create $socket in 20 s." }
        Start-Sleep -Milliseconds 20
    }
    [pscustomobject]@{ Process = $process; Socket = $socket }
}

function Stop-PausedQemu($Qemu) {
    if ($Qemu -and -not $Qemu.Process.HasExited) { $Qemu.Process.Kill(); $null = $Qemu.Process.WaitForExit(10000) }
}

function Measure-Ms([scriptblock] $Script) {
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $null = & $Script
    $sw.Elapsed.TotalMilliseconds
}

$None = [System.Threading.CancellationToken]::None
function Connect-Api([string] $Socket) {
    [ColoPS.Qmp.QmpSession]::ConnectAsync([ColoPS.Qmp.QmpEndpoint]::Unix($Socket), $null, $None).GetAwaiter().GetResult()
}

#endregion

#region Benchmarks

function Invoke-RoundTripBench([int] $Run) {
    # Two identical paused QEMUs, one per client kind (a monitor serves one client at a time), and
    # the loops interleaved in blocks, so that a busy moment of the machine hits every variant alike.
    $dir = New-BenchDirectory "rt$Run"
    $qemus = @()
    $raw = $null
    $rawOob = $null
    $cs = $null
    try {
        $qemus = @(Start-PausedQemu -Directory $dir -Name 'raw'), @(Start-PausedQemu -Directory $dir -Name 'colops'), @(Start-PausedQemu -Directory $dir -Name 'rawoob')
        # Raw: its own connection and qmp_capabilities (no oob), then write a line / read a line.
        $raw = [ColoBench.RawQmp]::new($qemus[0].Socket, $false, 60000)
        # The same raw client with oob negotiated, as ColoPS negotiates it by default: it shows what
        # QEMU's oob mode itself costs a round trip, apart from the client.
        $rawOob = [ColoBench.RawQmp]::new($qemus[2].Socket, $true, 60000)
        # ColoPS: one session from Connect-QmpSession (oob negotiated, as by default); the C# API
        # loops and the cmdlet loop all use it.
        $cs = Connect-QmpSession -Path $qemus[1].Socket -Name "bench-rt$Run" -TimeoutSec 20
        $s = $cs

        $total = [ordered]@{ raw = 0.0; rawoob = 0.0; pipe = 0.0; sync = 0.0; api = 0.0; async = 0.0; pssync = 0.0; ps = 0.0; cmdlet = 0.0; concurrent = 0.0 }
        $loops = [ordered]@{
            raw        = { param($n) $raw.QueryStatusLoop($n) }
            rawoob     = { param($n) $rawOob.QueryStatusLoop($n) }
            pipe       = { param($n) $raw.PipelinedLoop($n, $Callers) }
            sync       = { param($n) [ColoBench.ApiLoop]::Synchronous($s, $n) }
            api        = { param($n) [ColoBench.ApiLoop]::Sequential($s, $n) }
            async      = { param($n) [ColoBench.ApiLoop]::SequentialAsync($s, $n) }
            pssync     = { param($n) Measure-Ms { for ($i = 0; $i -lt $n; $i++) { $null = $s.Execute('query-status') } } }
            ps         = { param($n) Measure-Ms { for ($i = 0; $i -lt $n; $i++) { $null = $s.ExecuteAsync('query-status', $null, $None).GetAwaiter().GetResult() } } }
            cmdlet     = { param($n) Measure-Ms { for ($i = 0; $i -lt $n; $i++) { $null = Invoke-QmpCommand -Session $cs -Command query-status } } }
            concurrent = { param($n) [ColoBench.ApiLoop]::Concurrent($s, $Callers, $n) }
        }
        foreach ($k in $loops.Keys) { $null = & $loops[$k] $Warmup }
        $warming = [System.Diagnostics.Stopwatch]::StartNew()
        while ($warming.Elapsed.TotalSeconds -lt $WarmupSeconds) { foreach ($k in $loops.Keys) { $null = & $loops[$k] 100 } }
        $blocks = 5
        $perBlock = [int][math]::Ceiling($Calls / $blocks)
        for ($b = 0; $b -lt $blocks; $b++) {
            foreach ($k in $loops.Keys) { $total[$k] += & $loops[$k] $perBlock }
        }
        $n = $perBlock * $blocks
        $us = @{}
        foreach ($k in $total.Keys) { $us[$k] = $total[$k] * 1000.0 / $n }

        Add-Sample 'rt.rawoob' $us.rawoob $us.raw
        Add-Sample 'rt.sync' $us.sync $us.raw
        Add-Sample 'rt.api' $us.api $us.raw
        Add-Sample 'rt.async' $us.async $us.raw
        Add-Sample 'rt.pssync' $us.pssync $us.raw
        Add-Sample 'rt.ps' $us.ps $us.raw
        Add-Sample 'rt.cmdlet' $us.cmdlet $us.raw
        Add-Sample 'rt.concurrent' $us.concurrent $us.pipe
        Write-Step ("  round trip (us/call): raw {0:N1} (with oob {9:N1}), Execute {1:N1}, ExecuteAsync blocked {2:N1}, awaited {3:N1}, Execute from PS {4:N1}, ExecuteAsync from PS {5:N1}, Invoke-QmpCommand {6:N1}; 8 callers {7:N1} vs raw pipelined {8:N1}" -f $us.raw, $us.sync, $us.api, $us.async, $us.pssync, $us.ps, $us.cmdlet, $us.concurrent, $us.pipe, $us.rawoob)
    }
    finally {
        if ($raw) { $raw.Dispose() }
        if ($rawOob) { $rawOob.Dispose() }
        if ($cs) { $cs | Disconnect-QmpSession -Confirm:$false }
        foreach ($q in $qemus) { Stop-PausedQemu $q }
        Stop-QemuUnder $dir
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }
}

function New-BenchColoConfig([string] $Directory, [int] $Base) {
    $ports = @{ CompareIn = $Base + 1; Mirror = $Base + 3; Compare = $Base + 4; CompareOut = $Base + 5; Migration = $Base + 8; Nbd = $Base + 9 }
    # QEMU 7.2 under TCG deadlocks at a COLO checkpoint: no periodic checkpoint during the benchmark.
    New-ColoConfig -Name bench -MemoryMB 128 -DiskSizeGB 1 -Ports $ports -CheckpointIntervalMs 3600000 `
        -SiteA @{ Address = '127.0.0.1'; WorkDirectory = "$Directory/a" } `
        -SiteB @{ Address = '127.0.0.2'; WorkDirectory = "$Directory/b" }
}

function Stop-Hard([int] $ProcessId) {
    # "The host dies": SIGKILL, then wait until the process is gone.
    Stop-Process -Id $ProcessId -Force
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ([ColoPS.Qemu.ProcessProbe]::IsAlive($ProcessId)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "Process $ProcessId survived SIGKILL for 10 s." }
        Start-Sleep -Milliseconds 5
    }
}

function Invoke-ColoCycle([int] $Run, [ValidateSet('ColoPS', 'Raw')] [string] $Variant) {
    $dir = New-BenchDirectory ("c$Run" + $Variant.Substring(0, 1).ToLowerInvariant())
    $base = $PortBase + ($Run * 2 + [int]($Variant -eq 'Raw')) * 10
    $clients = [System.Collections.Generic.List[object]]::new()
    try {
        $cfg = New-BenchColoConfig -Directory $dir -Base $base
        # The primary's disk exists beforehand (as a VM's disk would), for both variants alike.
        $siteA = $cfg.SiteA.WorkDirectory
        $null = New-Item -ItemType Directory -Path $siteA
        chmod 700 $siteA
        & qemu-img create -q -f qcow2 $cfg.DiskPathOf('A') 1G
        if ($LASTEXITCODE -ne 0) { throw 'qemu-img create failed.' }

        $b = Start-ColoSecondary -Config $cfg -Site B
        if ($Variant -eq 'ColoPS') {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $a = Start-ColoPrimary -Config $cfg -Site A -Secondary $b -WarningAction SilentlyContinue
            $protect = $sw.Elapsed.TotalSeconds
            if ((Get-ColoStatus -Node $a).Protection -ne 'Protected') { throw 'ColoPS: the pair is not protected after Start-ColoPrimary.' }

            Stop-Hard $a.ProcessId
            $sw.Restart()
            $after = Invoke-ColoFailover -Node $b -Confirm:$false
            $failover = $sw.Elapsed.TotalSeconds
            if ($after.Mode -ne 'none') { throw "ColoPS: the survivor reports mode '$($after.Mode)' after Invoke-ColoFailover." }

            $a = Start-ColoSecondary -Config $cfg -Site A
            $sw.Restart()
            $resumed = Resume-ColoReplication -Node $b -Secondary $a -Confirm:$false
            $resume = $sw.Elapsed.TotalSeconds
            if ($resumed.Protection -ne 'Protected') { throw "ColoPS: protection is '$($resumed.Protection)' after Resume-ColoReplication." }
        }
        else {
            # The raw client takes over the secondary's monitor (QEMU serves one client at a time).
            $b.Session.Dispose(); $null = [ColoPS.Qmp.QmpSessionRegistry]::Remove($b.Session)
            $rb = [ColoBench.RawQmp]::new($cfg.QmpSocketOf('B'), $true, 120000); $clients.Add($rb)
            $binary = [ColoPS.Qemu.QemuBinary]::Resolve($cfg.Qemu.Binary)
            $argv = [ColoPS.Qemu.QemuCommandLine]::Primary($cfg, 'A', $b.QemuVersion, [ColoPS.Qemu.QemuBinary]::ResolveAccelerator($cfg.Qemu.Accelerator))
            $plan = [ColoPS.Colo.ColoPlans]::PrimaryProtect($cfg, 'A', [ColoPS.Qemu.QemuFeatures]::Of($b.QemuVersion))

            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $pidA = [ColoBench.RawColo]::Launch($binary, $argv, $cfg.PidFileOf('A'))
            $ra = [ColoBench.RawQmp]::new($cfg.QmpSocketOf('A'), $false, 120000); $clients.Add($ra)
            [ColoBench.RawColo]::Run($ra, $rb, $plan)
            $protect = $sw.Elapsed.TotalSeconds
            if ($ra.Execute('{"execute":"query-colo-status"}').GetProperty('mode').GetString() -ne 'primary') { throw 'Raw: A is not the COLO primary.' }

            Stop-Hard $pidA
            $sw.Restart()
            [ColoBench.RawColo]::SecondaryFailover($rb, $cfg, 'B')
            $failover = $sw.Elapsed.TotalSeconds

            $a = Start-ColoSecondary -Config $cfg -Site A
            $a.Session.Dispose(); $null = [ColoPS.Qmp.QmpSessionRegistry]::Remove($a.Session)
            $ra2 = [ColoBench.RawQmp]::new($cfg.QmpSocketOf('A'), $false, 120000); $clients.Add($ra2)
            $sw.Restart()
            [ColoBench.RawColo]::Resume($rb, $ra2, $cfg, 'B', [ColoPS.Qemu.QemuFeatures]::Of($b.QemuVersion))
            $resume = $sw.Elapsed.TotalSeconds
            if ($rb.Execute('{"execute":"query-colo-status"}').GetProperty('mode').GetString() -ne 'primary') { throw 'Raw: B is not the COLO primary after resume.' }
        }
        Write-Step ("  {0,-6} protect {1:N2} s, failover {2:N2} s, resume {3:N2} s" -f $Variant, $protect, $failover, $resume)
        [pscustomobject]@{ Protect = $protect; Failover = $failover; Resume = $resume }
    }
    finally {
        foreach ($c in $clients) { try { $c.Dispose() } catch { } }
        Close-SessionsUnder $dir
        Stop-QemuUnder $dir
        Remove-Item $dir -Recurse -Force -ErrorAction Ignore
    }
}

function Invoke-ColoBench([int] $Run) {
    # Alternate which variant goes first, so neither always runs on a warmer machine.
    $order = if ($Run % 2 -eq 0) { 'ColoPS', 'Raw' } else { 'Raw', 'ColoPS' }
    $r = @{}
    foreach ($v in $order) { $r[$v] = Invoke-ColoCycle -Run $Run -Variant $v }
    Add-Sample 'colo.protect' $r.ColoPS.Protect $r.Raw.Protect
    Add-Sample 'colo.failover' $r.ColoPS.Failover $r.Raw.Failover
    Add-Sample 'colo.resume' $r.ColoPS.Resume $r.Raw.Resume
}

# The cold start's functions: New-FloorModule, Get-ColdStartPwsh, Invoke-ColdStartBench.
. (Join-Path $PSScriptRoot 'ColdStart.ps1')

function Invoke-EventBench([int] $Run) {
    $socket = Join-Path $Root "ev$Run.sock"
    $server = [ColoBench.FakeEventServer]::new($socket, $EventCount)
    $flood = '{"execute":"x-flood"}'
    $warm = '{"execute":"x-flood","arguments":{"count":10000}}'
    try {
        $rawBench = {
            $raw = [ColoBench.RawQmp]::new($socket, $false, 60000)
            try {
                $ms = 0.0
                $null = $raw.ReadUntilReply($warm, [ref] $ms)
                $seen = $raw.ReadUntilReply($flood, [ref] $ms)
                if ($seen -ne $EventCount) { throw "The raw reader saw $seen events, not $EventCount." }
                $ms
            }
            finally { $raw.Dispose() }
        }
        $sessionBench = {
            # Warm the session's code paths on a throwaway session, then measure a fresh one.
            $w = Connect-Api $socket
            try { $null = $w.ExecuteAsync('x-flood', [System.Text.Json.Nodes.JsonObject]::Parse('{"count":10000}'), $None).GetAwaiter().GetResult() }
            finally { $w.Dispose() }
            $m0 = [ColoBench.Memory]::Settled()
            $s = Connect-Api $socket
            try {
                $m1 = [ColoBench.Memory]::Settled()
                $ms = Measure-Ms { $s.ExecuteAsync('x-flood', $null, $None).GetAwaiter().GetResult() }
                $m2 = [ColoBench.Memory]::Settled()
                if ($s.LastEventSequence -ne $EventCount) { throw "The session numbered $($s.LastEventSequence) events, not $EventCount." }
                $r = [pscustomobject]@{
                    Ms = $ms; Connect = ($m1 - $m0) / 1KB; After1 = ($m2 - $m0) / 1KB; After2 = 0.0
                    Discarded = $s.DiscardedEventCount; Retained = $s.GetEvents(0).Count; Capacity = $s.EventHistoryCapacity
                }
                $null = $s.ExecuteAsync('x-flood', $null, $None).GetAwaiter().GetResult()
                $r.After2 = ([ColoBench.Memory]::Settled() - $m0) / 1KB
                $r
            }
            finally { $s.Dispose() }
        }
        if ($Run % 2 -eq 0) { $rawMs = & $rawBench; $r = & $sessionBench } else { $r = & $sessionBench; $rawMs = & $rawBench }

        Add-Sample 'events' $r.Ms $rawMs
        Add-Memory 'capacity' $r.Capacity
        Add-Memory 'retained' $r.Retained
        Add-Memory 'discarded' $r.Discarded
        Add-Memory 'connect' $r.Connect
        Add-Memory 'after1' $r.After1
        Add-Memory 'after2' $r.After2
        Write-Step ("  events: {0:N0} in {1:N0} ms (raw reader {2:N0} ms); heap +{3:N0} KiB after {0:N0}, +{4:N0} KiB after {5:N0}; retained {6}, discarded {7}" -f $EventCount, $r.Ms, $rawMs, $r.After1, $r.After2, (2 * $EventCount), $r.Retained, $r.Discarded)
    }
    finally {
        $server.Dispose()
        Remove-Item $socket -Force -ErrorAction Ignore
    }
}

#endregion

#region Report

function Get-Stat([double[]] $Values) {
    $sorted = @($Values | Where-Object { -not [double]::IsNaN($_) } | Sort-Object)
    if ($sorted.Count -eq 0) { return $null }
    $mid = [int][math]::Floor($sorted.Count / 2)
    $median = if ($sorted.Count % 2) { $sorted[$mid] } else { ($sorted[$mid - 1] + $sorted[$mid]) / 2 }
    [pscustomobject]@{ Median = $median; Min = $sorted[0]; Max = $sorted[-1] }
}

function Format-Stat($Stat, [string] $Format, [string] $Unit = '', [string] $Between = '–') {
    if (-not $Stat) { return 'n/a' }
    $f = { param($v) $v.ToString($Format, [cultureinfo]::InvariantCulture) }
    if ($Stat.Min -eq $Stat.Max) { return "$(& $f $Stat.Median)$Unit" }
    "$(& $f $Stat.Median)$Unit ($(& $f $Stat.Min)$Between$(& $f $Stat.Max))"
}

$Rows = @(
    @{ Key = 'rt.rawoob'; Name = 'QMP round trip, the raw client with oob negotiated (what QEMU''s oob mode costs; not ColoPS)'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.sync'; Name = 'QMP round trip, C# API: compiled loop, Execute() (synchronous; the caller reads its reply)'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.api'; Name = 'QMP round trip, C# API: compiled loop, ExecuteAsync().GetAwaiter().GetResult()'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.async'; Name = 'QMP round trip, C# API: compiled async loop (await)'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.pssync'; Name = 'QMP round trip, C# API Execute() from a PowerShell for loop'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.ps'; Name = 'QMP round trip, C# API from a PowerShell for loop'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.cmdlet'; Name = 'QMP round trip, Invoke-QmpCommand in a PowerShell for loop'; Raw = 'raw socket: write a line, read a line'; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'rt.concurrent'; Name = "$Callers concurrent callers (tasks) on one QmpSession, wall time per call"; Raw = "raw socket, $Callers requests pipelined"; Unit = ' µs'; Format = '0.0' }
    @{ Key = 'colo.protect'; Name = 'Protect: Start-ColoPrimary, secondary ready → both in COLO'; Raw = 'launch QEMU + PrimaryProtect steps, raw'; Unit = ' s'; Format = '0.00' }
    @{ Key = 'colo.failover'; Name = 'Failover: primary SIGKILLed and gone → Invoke-ColoFailover returns (mode none)'; Raw = 'query-yank + SecondaryFailover steps, raw'; Unit = ' s'; Format = '0.00' }
    @{ Key = 'colo.resume'; Name = 'Resume, 1 GiB disk: Resume-ColoReplication → both in COLO'; Raw = 'qom-list + Resume steps, raw'; Unit = ' s'; Format = '0.00' }
    @{ Key = 'cold.floor'; Difference = $true; Name = 'Cold start of the floor, tool-manifest pwsh (IL only): pwsh -NoProfile -c "Import-Module <a binary module of two empty cmdlets>; Get-Command"'; Raw = 'pwsh -NoProfile -c exit'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold.overfloor'; Difference = $true; Name = 'Cold start, tool-manifest pwsh: ColoPS against the floor module'; Raw = 'the floor module'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold'; Difference = $true; Name = 'Cold start, tool-manifest pwsh: pwsh -NoProfile -c "Import-Module; Get-Command -Module ColoPS"'; Raw = 'pwsh -NoProfile -c exit'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold.import'; Difference = $true; Name = 'Cold start, tool-manifest pwsh: pwsh -NoProfile -c "Import-Module ColoPS" alone'; Raw = 'pwsh -NoProfile -c exit'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold.r2r.floor'; Difference = $true; Name = 'Cold start of the floor, the same pwsh compiled ReadyToRun (as its Release packages are; framework-dependent here)'; Raw = 'pwsh -NoProfile -c exit'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold.r2r.overfloor'; Difference = $true; Name = 'Cold start, ReadyToRun pwsh: ColoPS against the floor module'; Raw = 'the floor module'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold.r2r'; Difference = $true; Name = 'Cold start, ReadyToRun pwsh: pwsh -NoProfile -c "Import-Module; Get-Command -Module ColoPS"'; Raw = 'pwsh -NoProfile -c exit'; Unit = ' ms'; Format = '0' }
    @{ Key = 'cold.r2r.import'; Difference = $true; Name = 'Cold start, ReadyToRun pwsh: pwsh -NoProfile -c "Import-Module ColoPS" alone'; Raw = 'pwsh -NoProfile -c exit'; Unit = ' ms'; Format = '0' }
    @{ Key = 'events'; Name = "$($EventCount.ToString('N0', [cultureinfo]::InvariantCulture)) events into a QmpSession (fake monitor, unix socket)"; Raw = 'raw line reader'; Unit = ' ms'; Format = '0' }
)

function Get-Report {
    $qemuVersion = ((& qemu-system-x86_64 --version | Select-Object -First 1) -replace '^QEMU emulator version\s*', '')
    $cpu = (Get-Content /proc/cpuinfo -ErrorAction Ignore | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', ''
    $accel = [ColoPS.Qemu.QemuBinary]::ResolveAccelerator('Auto')
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add("ColoPS $($module.Version) benchmarks, $(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC$((Get-Date).ToString('zzz') -replace '^\+00:00$', '')")
    $lines.Add('')
    $lines.Add("- Machine: $([Environment]::ProcessorCount) cores ($cpu), $(([double]((Get-Content /proc/meminfo -TotalCount 1) -replace '\D', '') / 1MB).ToString('0', [cultureinfo]::InvariantCulture)) GiB, $([System.Runtime.InteropServices.RuntimeInformation]::OSDescription); cold start runs $((Get-PwshInvocation) -join ' ')$(Get-ColdStartPwshNote)")
    $lines.Add("- QEMU $qemuVersion, accelerator $($accel.ToString().ToUpperInvariant()); PowerShell $($PSVersionTable.PSVersion), .NET $([Environment]::Version)")
    $lines.Add("- Load average (1, 5, 15 min) at start: $LoadAtStart; at end: $((Get-Content /proc/loadavg -ErrorAction Ignore) -replace '^(\S+ \S+ \S+).*$', '$1')")
    $lines.Add("- $Runs run(s)$(if ($Quick) { ' (-Quick)' }); $Calls round trips per loop after $Warmup warm-up calls and $WarmupSeconds s of warm-up loops; median (min–max) over runs; ratio = ColoPS ÷ raw, per run")
    $lines.Add('')
    $lines.Add('| Benchmark | ColoPS | Raw baseline | Baseline | Ratio |')
    $lines.Add('|---|---|---|---|---|')
    foreach ($row in $Rows) {
        if (-not $Samples.Contains($row.Key)) { continue }
        $s = $Samples[$row.Key]
        $lines.Add(('| {0} | {1} | {2} | {3} | {4} |' -f $row.Name,
                (Format-Stat (Get-Stat $s.ColoPS) $row.Format $row.Unit),
                (Format-Stat (Get-Stat $s.Raw) $row.Format $row.Unit),
                $row.Raw,
                $(if ($row['Difference']) {
                    # A cold-start target is an allowance in milliseconds, so its rows show the difference too.
                    "$(Format-Stat (Get-Stat $s.Ratio) '0.00' '×'); $(Format-Stat (Get-Stat $s.Difference) '+0;−0;0' $row.Unit ' to ')"
                }
                else { Format-Stat (Get-Stat $s.Ratio) '0.00' '×' })))
    }
    if ($Memory.Count -gt 0) {
        $n2 = (2 * $EventCount).ToString('N0', [cultureinfo]::InvariantCulture)
        $n1 = $EventCount.ToString('N0', [cultureinfo]::InvariantCulture)
        $lines.Add('')
        $lines.Add("| Memory of one QmpSession (EventHistoryCapacity $($Memory.capacity[0])) | Median (min–max) |")
        $lines.Add('|---|---|')
        $lines.Add("| Managed heap growth after connect | $(Format-Stat (Get-Stat $Memory.connect) '0' ' KiB') |")
        $lines.Add("| Managed heap growth after $n1 events | $(Format-Stat (Get-Stat $Memory.after1) '0' ' KiB') |")
        $lines.Add("| Managed heap growth after $n2 events | $(Format-Stat (Get-Stat $Memory.after2) '0' ' KiB') |")
        $lines.Add("| Events retained after $n1 | $(Format-Stat (Get-Stat $Memory.retained) '0') |")
        $lines.Add("| DiscardedEventCount after $n1 | $(Format-Stat (Get-Stat $Memory.discarded) '0') |")
    }
    $lines
}

#endregion

$clock = [System.Diagnostics.Stopwatch]::StartNew()
try {
    if ('Colo' -in $Only -and -not (Get-Command qemu-system-x86_64 -ErrorAction Ignore)) { throw 'qemu-system-x86_64 is not installed.' }
    for ($run = 0; $run -lt $Runs; $run++) {
        Write-Step "Run $($run + 1) of $Runs"
        if ('RoundTrip' -in $Only) { Invoke-RoundTripBench -Run $run }
        if ('Colo' -in $Only) { Invoke-ColoBench -Run $run }
        if ('ColdStart' -in $Only) { Invoke-ColdStartBench -Run $run }
        if ('Events' -in $Only) { Invoke-EventBench -Run $run }
    }
    $report = Get-Report
    $report += ''
    $report += "Total benchmark time: $([math]::Round($clock.Elapsed.TotalMinutes, 1)) min."
    Write-Host ''
    $report | ForEach-Object { Write-Output $_ }
    if ($OutputPath) { $report | Set-Content -Path $OutputPath -Encoding utf8 }
}
finally {
    Close-SessionsUnder $Root
    Stop-QemuUnder $Root
    Remove-Item $Root -Recurse -Force -ErrorAction Ignore
}
