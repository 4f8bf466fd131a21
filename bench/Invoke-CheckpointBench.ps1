#Requires -Version 7.4
<#
.SYNOPSIS
    Benchmarks COLO checkpoints with the real test guest on QEMU 11: the VM's pause per checkpoint,
    a client's latency and throughput protected against the same guest alone, and the checkpoint
    stream with multifd against without it. Prints a Markdown report and writes it to a file.

.DESCRIPTION
    Reuses the real-guest proof's parts (not copies of them): tests/guest/Build-TestGuest.ps1 (the
    Debian kernel + busybox guest), tests/Pester/ProofHelpers.psm1 (a network namespace with a
    bridge 10.77.0.1 and a tap per site), tests/guest/ProofClient.cs (a client writing numbered
    records, one request at a time, each acknowledged only after the guest wrote it to its disk
    with O_DIRECT and fsync). The script runs itself again inside the namespace (-Inner), as the
    proof does, so both sites' QEMUs, their COLO sockets and the client share its loopback and bridge.

    Per run, two pairs one after the other (the order alternates from run to run):
      Plain    x-colo + return-path (what ColoPS sets on QEMU 11), x-checkpoint-delay -CheckpointDelayMs
      Multifd  the same plus the multifd capability and multifd-channels on both sides: on the
               secondary by -global migration.x-multifd=on / migration.multifd-channels=N on its
               command line (QEMU 11 refuses the capability over QMP once -incoming has started:
               "Multifd must be set before incoming starts"), on the primary by QMP
               (migrate-set-capabilities, migrate-set-parameters) sent by this script to a primary
               QEMU it started itself, before Start-ColoPrimary -Session runs the migration.
    Both variants start their primary the same way (this script launches the primary command line
    and hands the session to Start-ColoPrimary -Session), so they differ only in multifd.

    Each pair: both guests boot under COLO, the client writes through colo-compare; then
      protected window    -WindowSec s: every checkpoint of the primary (STOP -> RESUME, QEMU's own
                          event timestamps), each classed as periodic (its STOP came at least 90 %
                          of x-checkpoint-delay after the one before) or forced by colo-compare
                          (sooner: the outputs differed); the client's acknowledged requests
                          (latency = first send to ACK) and throughput (ACKs per second);
      divergence window   -WindowSec/2 s (at least 8) of the same client plus an ICMP timestamp
                          request every -ProbePeriodMs ms (bench/DivergenceProbe.cs): each guest
                          answers with its own clock, the answers differ, colo-compare forces
                          checkpoints; their pauses are reported apart;
      secondary killed    SIGKILL, Invoke-ColoFailover on the primary: the same guest now runs alone
                          on the same QEMU, command line, tap and bridge;
      unprotected window  -WindowSec s of the same client on the same connection.
    Ratios are computed run by run (protected / unprotected, multifd / plain) and reported as the
    median and min-max over runs; the pause p99 is the nearest-rank 99th percentile of one run's
    checkpoints (with fewer than 100 checkpoints it is the longest one).

    After each window the secondary guest's console is read: a kernel Oops/BUG/panic there means the
    secondary's copy of the VM went bad (reported per run; such a run's client figures measure a
    broken pair, so the report repeats them over the healthy runs). The raw result (every
    checkpoint, the consoles) is kept in out/bench/checkpoints.json; -FromResult writes the report
    again from it.

    Every QEMU, the network namespace and every folder (/tmp/colops-ckb-*) are removed in finally
    blocks. COLO ports start at 53000 (inside the namespace).

.PARAMETER ModulePath
    The staged module manifest (out/ColoPS/ColoPS.psd1).

.PARAMETER Runs
    Runs (default 3; 1 with -Quick).

.PARAMETER Quick
    A short smoke run: one run, shorter windows. build.ps1 Bench passes it when COLOPS_BENCH_QUICK is set.

.PARAMETER OutputPath
    Where the Markdown report goes: bench/CHECKPOINTS.md for a full run, out/bench/CHECKPOINTS-quick.md with -Quick.

.EXAMPLE
    dotnet pwsh bench/Invoke-CheckpointBench.ps1 -ModulePath out/ColoPS/ColoPS.psd1 -Quick
#>
[CmdletBinding()]
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ColoPS/ColoPS.psd1'),
    [ValidateRange(1, 20)]
    [int] $Runs = 3,
    [switch] $Quick,
    [string] $OutputPath,
    [ValidateRange(200, 2000)]
    [int] $CheckpointDelayMs = 2000,
    [ValidateRange(1, 16)]
    [int] $MultifdChannels = 2,
    [int] $WindowSec = 0,
    [int] $MemoryMB = 256,
    [int] $PortBase = 53000,
    # The divergence window's ICMP timestamp requests: one every this many ms.
    [int] $ProbePeriodMs = 250,
    # Plain, Multifd; a comma-separated string works too (pwsh -File passes one).
    [string[]] $Variant = @('Plain', 'Multifd'),
    # Write the report again from a saved result (out/bench/checkpoints.json) without measuring.
    [string] $FromResult,
    # Internal: the measuring half, run inside the network namespace.
    [switch] $Inner,
    [string] $WorkDirectory,
    [string] $ResultPath,
    [string] $Bridge = 'cpbr0',
    [string] $TapA = 'cpta',
    [string] $TapB = 'cptb'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$ProgressPreference = 'SilentlyContinue'

$Variant = @($Variant | ForEach-Object { $_ -split ',' } | ForEach-Object Trim | Where-Object { $_ })
foreach ($v in $Variant) { if ($v -notin 'Plain', 'Multifd') { throw "-Variant: unknown '$v'; use Plain or Multifd." } }
if ($Quick -and -not $PSBoundParameters.ContainsKey('Runs')) { $Runs = 1 }
if ($WindowSec -le 0) { $WindowSec = if ($Quick) { 12 } else { 30 } }
$DivergeSec = [math]::Max(8, [int]($WindowSec / 2))
$ModulePath = (Resolve-Path $ModulePath).ProviderPath
$Repo = Split-Path $PSScriptRoot

function Write-Step([string] $Text) { Write-Host ("[{0:HH:mm:ss}] {1}" -f (Get-Date), $Text) }

function Get-Load { (Get-Content /proc/loadavg -ErrorAction Ignore) -replace '^(\S+ \S+ \S+).*$', '$1' }

function Get-Percentile([double[]] $Values, [double] $P) {
    # Nearest rank: the smallest value with at least P % of the values at or below it.
    $sorted = @($Values | Where-Object { $null -ne $_ -and -not [double]::IsNaN($_) } | Sort-Object)
    if ($sorted.Count -eq 0) { return [double]::NaN }
    $rank = [math]::Max(1, [int][math]::Ceiling($P / 100.0 * $sorted.Count))
    $sorted[$rank - 1]
}

function Get-Median([double[]] $Values) {
    $sorted = @($Values | Where-Object { $null -ne $_ -and -not [double]::IsNaN($_) } | Sort-Object)
    if ($sorted.Count -eq 0) { return [double]::NaN }
    $mid = [int][math]::Floor($sorted.Count / 2)
    if ($sorted.Count % 2) { $sorted[$mid] } else { ($sorted[$mid - 1] + $sorted[$mid]) / 2 }
}

if ($Inner) {
    #region Inner: inside the namespace, one pair per run and variant
    Import-Module $ModulePath -Force
    Add-Type -Path (Join-Path $Repo 'tests/guest/ProofClient.cs')
    Add-Type -Path (Join-Path $PSScriptRoot 'DivergenceProbe.cs')
    $guest = & (Join-Path $Repo 'tests/guest/Build-TestGuest.ps1')
    $GuestIp = '10.77.0.2'
    $GuestPort = 50080
    $GuestMac = '52:54:00:77:00:02'
    $taps = @{ A = $TapA; B = $TapB }
    # A guest kernel that crashed: what a secondary whose RAM went wrong prints.
    $OopsPattern = 'Oops|BUG: |general protection fault|Kernel panic|end trace'
    function Get-OopsLine([string] $Text) {
        @($Text -split "`r?`n" | Where-Object { $_ -match 'BUG: |Oops|general protection|Kernel panic|RIP: ' } | ForEach-Object { ($_ -replace '^\[\s*[\d.]+\]\s*', '').Trim() } | Select-Object -First 4)
    }
    $null = New-Item -ItemType Directory -Force -Path $WorkDirectory

    function Invoke-Ip {
        $out = & ip @args 2>&1
        if ($LASTEXITCODE -ne 0) { throw "ip $($args -join ' ') failed: $out" }
    }

    function Set-ServingSite([string] $Site) {
        # Only the serving side's tap is on the client's bridge (as in the proof).
        $other = if ($Site -eq 'A') { 'B' } else { 'A' }
        Invoke-Ip link set $taps[$other] nomaster
        Invoke-Ip link set $taps[$Site] master $Bridge
    }

    function Wait-GuestReady([object[]] $Nodes, [int] $TimeoutSec = 180) {
        # The guest's init prints GUEST-READY on its console (a ringbuf chardev) once its service listens.
        $text = @{}
        foreach ($n in $Nodes) { $text[$n.Name] = '' }
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while ($true) {
            $ready = $true
            foreach ($n in $Nodes) {
                $text[$n.Name] += "$(Invoke-QmpCommand -Session $n.Session -Command ringbuf-read -Arguments @{ device = 'con0'; size = 65536; format = 'utf8' } -TimeoutSec 10)"
                if ($text[$n.Name] -notmatch 'GUEST-READY carrier=1 sda=yes') { $ready = $false }
            }
            if ($ready) { return }
            if ([DateTime]::UtcNow -gt $deadline) { throw "The guest did not boot in $TimeoutSec s: $($text | ConvertTo-Json -Compress)" }
            Start-Sleep -Milliseconds 250
        }
    }

    function Wait-Acks($Client, [int] $Count, [int] $TimeoutSec = 120, [string] $What = 'acknowledged writes') {
        $target = $Client.AckCount + $Count
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while ($Client.AckCount -lt $target) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "The client got $($Client.AckCount - $target + $Count) of $Count $What in $TimeoutSec s. Client: $($Client.Events() | Select-Object -Last 5)" }
            Start-Sleep -Milliseconds 50
        }
    }

    function Measure-Client($Client, [DateTime] $From, [DateTime] $To) {
        $acks = @($Client.Acks() | Where-Object { $_.AckedUtc -ge $From -and $_.AckedUtc -lt $To })
        $lat = [double[]]@($acks | ForEach-Object WaitMs)
        [ordered]@{
            requests = $acks.Count
            seconds = ($To - $From).TotalSeconds
            throughput = $acks.Count / ($To - $From).TotalSeconds
            latencyMedianMs = Get-Median $lat
            latencyP99Ms = Get-Percentile $lat 99
            latencyMaxMs = if ($lat.Count) { ($lat | Measure-Object -Maximum).Maximum } else { [double]::NaN }
        }
    }

    function Get-Checkpoints($Session, [long] $AfterSequence, [DateTime] $From, [DateTime] $To) {
        # STOP -> RESUME pairs of the primary, timed by QEMU's own event timestamps (seconds,
        # microseconds); those whose STOP falls in [From, To). The STOP before each one (also before
        # the window) tells a periodic checkpoint from one colo-compare forced.
        $events = @(Get-QmpEvent -Session $Session -AfterSequence $AfterSequence | Where-Object Name -in 'STOP', 'RESUME')
        $list = [System.Collections.Generic.List[object]]::new()
        $stop = $null; $prevStop = $null
        foreach ($e in $events) {
            $t = $e.Timestamp ?? $e.ReceivedAt
            if ($e.Name -eq 'STOP') { $stop = $t; continue }
            if (-not $stop) { continue }
            $gap = if ($prevStop) { ($stop - $prevStop).TotalMilliseconds } else { [double]::NaN }
            if ($stop.UtcDateTime -ge $From -and $stop.UtcDateTime -lt $To) {
                $list.Add([pscustomobject]@{ PauseMs = ($t - $stop).TotalMilliseconds; GapMs = $gap; Forced = (-not [double]::IsNaN($gap)) -and $gap -lt 0.9 * $CheckpointDelayMs })
            }
            $prevStop = $stop; $stop = $null
        }
        $list
    }

    function Get-RamStat($Session) {
        $m = Invoke-QmpCommand -Session $Session -Command query-migrate -TimeoutSec 10
        $ram = $m.PSObject.Properties['ram']
        if (-not $ram) { return [ordered]@{ status = "$($m.status)"; transferred = $null; multifd = $null } }
        $r = $ram.Value
        [ordered]@{
            status = "$($m.status)"
            transferred = [double]$r.transferred
            multifd = if ($r.PSObject.Properties['multifd-bytes']) { [double]$r.'multifd-bytes' } else { $null }
        }
    }

    function Invoke-Pair([int] $Run, [string] $Kind, [int] $Index) {
        $dir = Join-Path $WorkDirectory "$($Kind.ToLowerInvariant())$Run"
        $b = $PortBase + 20 * $Index
        $ports = @{ CompareIn = $b + 1; Mirror = $b + 3; Compare = $b + 4; CompareOut = $b + 5; Migration = $b + 8; Nbd = $b + 9 }
        $r = [ordered]@{ run = $Run; variant = $Kind; error = $null; diagnostics = @(); secondary = $null; diverging = $null; multifd = $null; checkpoints = @(); protected = $null; unprotected = $null; ram = $null; qemuVersion = $null; accelerator = $null }
        $client = $null; $S = $null; $P = $null; $session = $null
        function New-BenchConfig([string[]] $More = @()) {
            New-ColoConfig -Name ckb -MemoryMB $MemoryMB -DiskSizeGB 0.0625 -Ports $ports -CheckpointIntervalMs $CheckpointDelayMs `
                -NetworkBackend tap -NicModel rtl8139 -MacAddress $GuestMac `
                -SiteA @{ Address = '127.0.0.1'; WorkDirectory = "$dir/a"; TapInterface = $TapA } `
                -SiteB @{ Address = '127.0.0.2'; WorkDirectory = "$dir/b"; TapInterface = $TapB } `
                -ExtraArgument (@('-kernel', $guest.Kernel, '-initrd', $guest.Initrd, '-append', $guest.Append,
                    '-chardev', 'ringbuf,id=con0,size=65536', '-serial', 'chardev:con0') + $More)
        }
        try {
            $cfg = New-BenchConfig
            # The secondary's multifd has to be on its command line (before -incoming starts).
            $cfgB = if ($Kind -eq 'Multifd') { New-BenchConfig @('-global', 'migration.x-multifd=on', '-global', "migration.multifd-channels=$MultifdChannels") } else { $cfg }
            Set-ServingSite A
            $S = Start-ColoSecondary -Config $cfgB -Site B

            # The primary: its command line as ColoPS builds it, started here, so that the QMP
            # settings below reach it before Start-ColoPrimary -Session sends migrate.
            $siteA = $cfg.SiteA.WorkDirectory
            $null = New-Item -ItemType Directory -Force -Path $siteA
            chmod 700 $siteA
            & qemu-img create -q -f qcow2 $cfg.DiskPathOf('A') 64M
            if ($LASTEXITCODE -ne 0) { throw 'qemu-img create failed.' }
            $accel = [ColoPS.Qemu.QemuBinary]::ResolveAccelerator($cfg.Qemu.Accelerator)
            $argv = [ColoPS.Qemu.QemuCommandLine]::Primary($cfg, 'A', $S.QemuVersion, $accel)
            $out = & $cfg.Qemu.Binary @argv 2>&1
            if ($LASTEXITCODE -ne 0) { throw "The primary QEMU did not start: $out" }
            $session = Connect-QmpSession -Path $cfg.QmpSocketOf('A') -Name "ckb-A-$Kind$Run" -TimeoutSec 30
            if ($Kind -eq 'Multifd') {
                $null = Invoke-QmpCommand -Session $session -Command migrate-set-capabilities -Arguments @{ capabilities = @(@{ capability = 'multifd'; state = $true }) }
                $null = Invoke-QmpCommand -Session $session -Command migrate-set-parameters -Arguments @{ 'multifd-channels' = $MultifdChannels }
            }
            $P = Start-ColoPrimary -Config $cfg -Site A -Secondary $S -Session $session -WarningAction SilentlyContinue
            $r.qemuVersion = "$($P.QemuVersion)"
            $r.accelerator = "$($P.Accelerator)"
            $caps = @{}
            foreach ($n in @($P, $S)) {
                $c = @(Invoke-QmpCommand -Session $n.Session -Command query-migrate-capabilities) | Where-Object { $_.capability -in 'multifd', 'x-colo', 'return-path' }
                $params = Invoke-QmpCommand -Session $n.Session -Command query-migrate-parameters
                $caps["$($n.Site)"] = (($c | ForEach-Object { "$($_.capability)=$($_.state)".ToLowerInvariant() }) -join ' ') + " multifd-channels=$($params.'multifd-channels') x-checkpoint-delay=$($params.'x-checkpoint-delay')"
            }
            $r.multifd = $caps
            Write-Step "  $Kind run $($Run + 1): protected ($($r.qemuVersion), $($r.accelerator)); A: $($caps.A); B: $($caps.B)"
            # Checkpoints are read from the primary's events after this point (all of them are COLO's).
            $mark = $P.Session.LastEventSequence

            # The primary's console only: with periodic checkpoints the secondary may be overwritten
            # by the primary's state (which has printed it already) before it prints GUEST-READY itself.
            Wait-GuestReady @($P)
            # ... and the client connects only after the next checkpoint has copied that state (its
            # service listening) to the secondary: the secondary's filter-rewriter must see the
            # connection's SYN handled by a listening guest, or every answer of the connection differs.
            $ready = $P.Session.LastEventSequence
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not @(Get-QmpEvent -Session $P.Session -AfterSequence $ready | Where-Object Name -eq 'RESUME')) {
                if ([DateTime]::UtcNow -gt $deadline) { throw 'No checkpoint within 60 s after the guest booted.' }
                Start-Sleep -Milliseconds 50
            }
            $client = [ColoProof.ProofClient]::new($GuestIp, $GuestPort)
            $client.Start()
            Wait-Acks $client 20 -What 'protected writes after boot'
            # Settle: one checkpoint period with the client writing.
            Start-Sleep -Milliseconds ($CheckpointDelayMs + 500)

            $t0 = [DateTime]::UtcNow
            Start-Sleep -Seconds $WindowSec
            $t1 = [DateTime]::UtcNow
            $cps = @(Get-Checkpoints $P.Session $mark $t0 $t1)
            $r.checkpoints = @($cps | ForEach-Object { [ordered]@{ pauseMs = [math]::Round($_.PauseMs, 3); gapMs = [math]::Round($_.GapMs, 1); forced = $_.Forced } })
            $r.protected = Measure-Client $client $t0 $t1
            # The secondary's side of the window: its run state and what its guest printed.
            $bs = Invoke-QmpCommand -Session $S.Session -Command query-status -TimeoutSec 10
            $bc = "$(Invoke-QmpCommand -Session $S.Session -Command ringbuf-read -Arguments @{ device = 'con0'; size = 65536; format = 'utf8' } -TimeoutSec 10)"
            $r.secondary = [ordered]@{ status = "$($bs.status)"; console = $bc.Substring([math]::Max(0, $bc.Length - 1500)); oops = $bc -match $OopsPattern; oopsLines = @(Get-OopsLine $bc) }
            # Divergence: the same client plus ICMP timestamp requests, whose replies differ between
            # the two guests (each answers with its own clock), so colo-compare forces checkpoints.
            $probe = [ColoBench.DivergenceProbe]::new($GuestIp, $ProbePeriodMs)
            try {
                $d0 = [DateTime]::UtcNow
                $probe.Start()
                Start-Sleep -Seconds $DivergeSec
                $probe.Stop()
                $d1 = [DateTime]::UtcNow
            }
            finally { $probe.Dispose() }
            $dcps = @(Get-Checkpoints $P.Session $mark $d0 $d1)
            $bc2 = "$(Invoke-QmpCommand -Session $S.Session -Command ringbuf-read -Arguments @{ device = 'con0'; size = 65536; format = 'utf8' } -TimeoutSec 10)"
            if ($bc2 -match $OopsPattern) { $r.secondary.oops = $true; $r.secondary.console = $bc2.Substring([math]::Max(0, $bc2.Length - 1500)); $r.secondary.oopsLines += @(Get-OopsLine $bc2) }
            if ($r.secondary.oops) { Write-Step "  ${Kind}: the SECONDARY's guest kernel crashed (console): $(@($r.secondary.oopsLines | Select-Object -First 3) -join ' / ')" }
            $r.diverging = [ordered]@{
                probes = $probe.Sent; client = Measure-Client $client $d0 $d1
                checkpoints = @($dcps | ForEach-Object { [ordered]@{ pauseMs = [math]::Round($_.PauseMs, 3); gapMs = [math]::Round($_.GapMs, 1); forced = $_.Forced } })
            }
            $dp = [double[]]@($dcps | ForEach-Object PauseMs)
            $fp = [double[]]@($dcps | Where-Object Forced | ForEach-Object PauseMs)
            Write-Step ("  {0}: with {1} ICMP timestamp probes in {2} s: {3} checkpoints ({4} forced), pause median {5:N1} ms (forced {6:N1} ms), p99 {7:N1} ms; client {8:N1}/s" -f $Kind,
                $probe.Sent, $DivergeSec, $dcps.Count, $fp.Count, (Get-Median $dp), (Get-Median $fp), (Get-Percentile $dp 99), $r.diverging.client.throughput)

            $pauses = [double[]]@($cps | ForEach-Object PauseMs)
            Write-Step ("  {0}: {1} checkpoints ({2} forced), pause median {3:N1} ms, p99 {4:N1} ms; client {5} requests, {6:N1}/s, latency median {7:N1} ms, p99 {8:N1} ms" -f $Kind,
                $cps.Count, @($cps | Where-Object Forced).Count, (Get-Median $pauses), (Get-Percentile $pauses 99), $r.protected.requests, $r.protected.throughput,
                $r.protected.latencyMedianMs, $r.protected.latencyP99Ms)

            # The same guest alone: the secondary dies, the primary leaves COLO and serves by itself.
            & kill -KILL $S.ProcessId
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ($S.IsProcessAlive -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
            $null = Invoke-ColoFailover -Node $P -Confirm:$false -TimeoutSec 30
            # The migration has ended (completed): query-migrate now has its RAM totals, multifd's share
            # included, over the whole protected time (first migration and every checkpoint).
            $ram = Get-RamStat $P.Session
            $all = @(Get-Checkpoints $P.Session $mark ([DateTime]::MinValue) ([DateTime]::MaxValue))
            $r.ram = [ordered]@{ status = $ram.status; bytes = $ram.transferred; multifdBytes = $ram.multifd; checkpoints = $all.Count }
            Write-Step ("  {0}: after failover the migration is {1}: {2:N1} MiB of RAM sent in all, {3} over multifd channels, {4} checkpoints" -f $Kind, $ram.status,
                ($ram.transferred / 1MB), $(if ($null -ne $ram.multifd) { '{0:N1} MiB' -f ($ram.multifd / 1MB) } else { 'n/a' }), $all.Count)
            Wait-Acks $client 10 -What 'writes after the failover'
            Start-Sleep -Seconds 1
            $u0 = [DateTime]::UtcNow
            Start-Sleep -Seconds $WindowSec
            $u1 = [DateTime]::UtcNow
            $r.unprotected = Measure-Client $client $u0 $u1
            Write-Step ("  {0}: alone after failover: {1} requests, {2:N1}/s, latency median {3:N1} ms, p99 {4:N1} ms" -f $Kind,
                $r.unprotected.requests, $r.unprotected.throughput, $r.unprotected.latencyMedianMs, $r.unprotected.latencyP99Ms)
        }
        catch {
            $r.error = "$($_.Exception.Message)"
            Write-Step "  $Kind run $($Run + 1) FAILED: $($r.error)"
            # What each side was doing: run state, COLO mode, migration status, and the primary's checkpoints.
            $diag = @()
            foreach ($n in @($P, $S)) {
                if (-not $n) { continue }
                try {
                    $st = Invoke-QmpCommand -Session $n.Session -Command query-status -TimeoutSec 5
                    $cs = Invoke-QmpCommand -Session $n.Session -Command query-colo-status -TimeoutSec 5
                    $mg = Invoke-QmpCommand -Session $n.Session -Command query-migrate -TimeoutSec 5
                    $ev = @(Get-QmpEvent -Session $n.Session | Group-Object Name | ForEach-Object { "$($_.Name)x$($_.Count)" }) -join ' '
                    $diag += "$($n.Name): $($st.status), colo $($cs.mode)/$($cs.reason), migration $($mg.status)$(if ($mg.PSObject.Properties['error-desc']) { " ($($mg.'error-desc'))" }); events $ev"
                }
                catch { $diag += "$($n.Name): no answer ($($_.Exception.Message))" }
            }
            $r.diagnostics = $diag
            foreach ($d in $diag) { Write-Step "    $d" }
            foreach ($site in 'A', 'B') {
                $log = Get-ChildItem "$dir/$($site.ToLowerInvariant())" -Filter '*.log' -ErrorAction Ignore | Select-Object -First 1
                if ($log) { $r["log$site"] = @(Get-Content $log.FullName -Tail 15) }
            }
        }
        finally {
            if ($client) { $client.Stop() }
            foreach ($n in @($P, $S)) { if ($n -and $n.IsProcessAlive) { try { Stop-ColoNode -Node $n -ErrorAction Stop } catch { } } }
            Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$dir/*" } | ForEach-Object { & kill -KILL $_.Id; $null = $_.WaitForExit(10000) }
            Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$dir/*" } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
            if ($session) { $session | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore }
            Remove-Item $dir -Recurse -Force -ErrorAction Ignore
        }
        $r
    }

    $results = [System.Collections.Generic.List[object]]::new()
    $exit = 0
    try {
        $i = 0
        for ($run = 0; $run -lt $Runs; $run++) {
            $order = if ($run % 2 -eq 0) { $Variant } else { @($Variant)[($Variant.Count - 1)..0] }
            Write-Step "Run $($run + 1) of ${Runs}: $($order -join ', ') (load $(Get-Load))"
            foreach ($k in $order) { $results.Add((Invoke-Pair -Run $run -Kind $k -Index $i)); $i++ }
        }
    }
    catch { Write-Step "FAILED: $($_.Exception.Message)"; $exit = 1 }
    finally {
        Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$WorkDirectory/*" } | ForEach-Object { & kill -KILL $_.Id; $null = $_.WaitForExit(10000) }
        [ordered]@{ guestKernel = $guest.KernelPackage; busybox = $guest.BusyboxPackage; pairs = $results } | ConvertTo-Json -Depth 8 | Set-Content -Path $ResultPath
    }
    exit $exit
    #endregion
}

#region Outer: prerequisites, the namespace, the inner run, the report
Import-Module (Join-Path $Repo 'tests/Pester/ProofHelpers.psm1') -Force
$why = Test-ProofPrerequisite
if ($why) { Write-Host "Checkpoint benchmark skipped: $why."; exit 0 }
Import-Module $ModulePath -Force
$module = Get-Module ColoPS
if (-not $OutputPath) { $OutputPath = if ($Quick) { Join-Path $Repo 'out/bench/CHECKPOINTS-quick.md' } else { Join-Path $PSScriptRoot 'CHECKPOINTS.md' } }

function Get-PwshInvocation {
    # The running pwsh's own executable when $PSHOME has one; under `dotnet pwsh` (a .NET tool), dotnet and pwsh.dll.
    $apphost = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' })
    if (Test-Path -LiteralPath $apphost) { return @($apphost) }
    $exe = [System.Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($exe)
}

$LoadAtStart = Get-Load
$clock = [System.Diagnostics.Stopwatch]::StartNew()
if ($FromResult) {
    $data = Get-Content $FromResult -Raw | ConvertFrom-Json
    $LoadAtStart = $data.loadAtStart
    $innerExit = 0
} else {
$id = [guid]::NewGuid().ToString('N').Substring(0, 6)
$Root = Join-Path '/tmp' "colops-ckb-$id"
$ns = "colops-ckb-$id"
$resultFile = Join-Path $Root 'result.json'
$null = New-Item -ItemType Directory -Path $Root
chmod 700 $Root
$loadSamples = [System.Collections.Generic.List[string]]::new()
$loadSamples.Add($LoadAtStart)
try {
    Write-Step "Building (or reusing) the test guest"
    $null = & (Join-Path $Repo 'tests/guest/Build-TestGuest.ps1')
    New-ProofNetwork -Namespace $ns -Bridge $Bridge -Tap $TapA, $TapB
    $pwsh = @(Get-PwshInvocation)
    $argv = @('netns', 'exec', $ns) + $pwsh + @('-NoProfile', '-NonInteractive', '-File', $PSCommandPath, '-Inner', '-ModulePath', $ModulePath,
        '-WorkDirectory', "$Root/w", '-ResultPath', $resultFile, '-Runs', "$Runs", '-WindowSec', "$WindowSec", '-CheckpointDelayMs', "$CheckpointDelayMs",
        '-MultifdChannels', "$MultifdChannels", '-ProbePeriodMs', "$ProbePeriodMs", '-MemoryMB', "$MemoryMB", '-PortBase', "$PortBase", '-Variant', ($Variant -join ','),
        '-Bridge', $Bridge, '-TapA', $TapA, '-TapB', $TapB) + @(if ($Quick) { '-Quick' })
    Write-Step "Measuring in network namespace $ns ($Runs run(s), windows of $WindowSec s, x-checkpoint-delay $CheckpointDelayMs ms; load $LoadAtStart)"
    & ip @argv
    $innerExit = $LASTEXITCODE
    $loadSamples.Add((Get-Load))
    if (-not (Test-Path $resultFile)) { throw "The measuring run wrote no result (exit $innerExit)." }
    $data = Get-Content $resultFile -Raw | ConvertFrom-Json
    $data | Add-Member -NotePropertyName loadAtStart -NotePropertyValue $LoadAtStart -Force
    $data | Add-Member -NotePropertyName loadAtEnd -NotePropertyValue $loadSamples[-1] -Force
    $data | Add-Member -NotePropertyName minutes -NotePropertyValue ([math]::Round($clock.Elapsed.TotalMinutes, 1)) -Force
    $data | Add-Member -NotePropertyName date -NotePropertyValue (Get-Date -Format 'yyyy-MM-dd HH:mm') -Force
    # The raw figures (every checkpoint, the secondary's console) stay in out/bench for a closer look (and -FromResult).
    $null = New-Item -ItemType Directory -Force -Path (Join-Path $Repo 'out/bench')
    $data | ConvertTo-Json -Depth 10 | Set-Content (Join-Path $Repo "out/bench/checkpoints$(if ($Quick) { '-quick' }).json")
}
finally {
    Remove-ProofNetwork -Namespace $ns
    $left = @(Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$Root/*" })
    foreach ($p in $left) { Stop-Process -Id $p.Id -Force -ErrorAction Ignore }
    Remove-Item $Root -Recurse -Force -ErrorAction Ignore
}
}

#region Report
$inv = [cultureinfo]::InvariantCulture
function Format-Spread([double[]] $Values, [string] $Format, [string] $Unit = '') {
    $v = @($Values | Where-Object { $null -ne $_ -and -not [double]::IsNaN($_) })
    if ($v.Count -eq 0) { return 'n/a' }
    $m = (Get-Median $v).ToString($Format, $inv) + $Unit
    if ($v.Count -eq 1) { return $m }
    $min = ($v | Measure-Object -Minimum).Minimum; $max = ($v | Measure-Object -Maximum).Maximum
    "$m ($($min.ToString($Format, $inv))–$($max.ToString($Format, $inv)))"
}

$pairs = @($data.pairs)
$ok = @($pairs | Where-Object { -not $_.error })
$qemuVersion = (@($ok | ForEach-Object qemuVersion) + @((& qemu-system-x86_64 --version | Select-Object -First 1) -replace '^QEMU emulator version\s*', '')) | Select-Object -First 1
$accel = (@($ok | ForEach-Object accelerator) + @("$([ColoPS.Qemu.QemuBinary]::ResolveAccelerator('Auto'))")) | Select-Object -First 1
$cpu = (Get-Content /proc/cpuinfo -ErrorAction Ignore | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', ''

function Get-PairStat($p) {
    $pauses = [double[]]@($p.checkpoints | ForEach-Object pauseMs)
    $dv = if ($p.PSObject.Properties['diverging'] -and $p.diverging) { @($p.diverging.checkpoints) } else { @() }
    $dall = [double[]]@($dv | ForEach-Object pauseMs)
    $dforced = [double[]]@($dv | Where-Object forced | ForEach-Object pauseMs)
    [pscustomobject]@{
        Oops = [double][int]($p.secondary -and $p.secondary.oops)
        Run = [int]$p.run; Variant = $p.variant; Count = $pauses.Count; Forced = @($p.checkpoints | Where-Object forced).Count
        Median = Get-Median $pauses; P99 = Get-Percentile $pauses 99
        DCount = $dall.Count; DForced = $dforced.Count; DMedian = Get-Median $dall; DP99 = Get-Percentile $dall 99; DForcedMedian = Get-Median $dforced
        DProbes = if ($p.diverging) { [double]$p.diverging.probes } else { [double]::NaN }
        DTp = if ($p.diverging) { [double]$p.diverging.client.throughput } else { [double]::NaN }
        LatProt = [double]$p.protected.latencyMedianMs; LatUnprot = [double]$p.unprotected.latencyMedianMs
        P99Prot = [double]$p.protected.latencyP99Ms; P99Unprot = [double]$p.unprotected.latencyP99Ms
        TpProt = [double]$p.protected.throughput; TpUnprot = [double]$p.unprotected.throughput
        MiB = if ($p.ram -and $null -ne $p.ram.bytes) { [double]$p.ram.bytes / 1MB } else { [double]::NaN }
        MultifdMiB = if ($p.ram -and $null -ne $p.ram.multifdBytes) { [double]$p.ram.multifdBytes / 1MB } else { [double]::NaN }
        MiBPerCheckpoint = if ($p.ram -and $null -ne $p.ram.bytes -and $p.ram.checkpoints) { [double]$p.ram.bytes / 1MB / [double]$p.ram.checkpoints } else { [double]::NaN }
    }
}
$stats = @($ok | ForEach-Object { Get-PairStat $_ })

$lines = [System.Collections.Generic.List[string]]::new()
$lines.Add('# Checkpoint benchmark (QEMU 11, real test guest)')
$lines.Add('')
$lines.Add("Written by ``bench/Invoke-CheckpointBench.ps1`` (``./build.ps1 Bench``), ColoPS $($module.Version), $($data.date) UTC.")
$lines.Add('')
$lines.Add("- Machine: $([Environment]::ProcessorCount) cores ($cpu), $(([double]((Get-Content /proc/meminfo -TotalCount 1) -replace '\D', '') / 1MB).ToString('0', $inv)) GiB, $([System.Runtime.InteropServices.RuntimeInformation]::OSDescription)")
$lines.Add("- QEMU $qemuVersion, accelerator $("$accel".ToUpperInvariant()); guest: $($data.guestKernel) + $($data.busybox), $MemoryMB MiB, rtl8139 on a tap, 64 MiB disk; both sites on one machine (loopback)")
$lines.Add("- Load average (1, 5, 15 min) at start: $LoadAtStart; at end: $($data.loadAtEnd) (other jobs were running on this machine)")
$lines.Add("- $Runs run(s)$(if ($Quick) { ' (-Quick)' }); per pair a protected window and an unprotected window of $WindowSec s each; x-checkpoint-delay $CheckpointDelayMs ms; multifd-channels $MultifdChannels; total $($data.minutes) min")
$lines.Add('- Load: one client (tests/guest/ProofClient.cs), one request at a time: "write record n to sector n with O_DIRECT and fsync, answer ACK n", through colo-compare')
$lines.Add('- Figures: median (min–max over runs); ratios are computed run by run. Pause = primary STOP → RESUME from QEMU''s event timestamps; p99 = nearest rank over one run''s checkpoints (the longest when fewer than 100). A checkpoint counts as forced by colo-compare when its STOP came sooner than 90 % of x-checkpoint-delay after the one before')
$lines.Add('')
$lines.Add('| Measure | Plain (x-colo, return-path) | Multifd | Ratio |')
$lines.Add('|---|---|---|---|')
$plain = @($stats | Where-Object Variant -eq 'Plain')
$mfd = @($stats | Where-Object Variant -eq 'Multifd')
function Get-RunRatio([string] $Property) {
    [double[]]@(foreach ($p in $plain) { $m = $mfd | Where-Object Run -eq $p.Run | Select-Object -First 1; if ($m -and $p.$Property -gt 0) { $m.$Property / $p.$Property } })
}
$row = {
    param($name, $prop, $fmt, $unit, [switch] $ratio)
    $a = Format-Spread ([double[]]@($plain | ForEach-Object $prop)) $fmt $unit
    $b = Format-Spread ([double[]]@($mfd | ForEach-Object $prop)) $fmt $unit
    $c = if ($ratio) { (Format-Spread (Get-RunRatio $prop) '0.00' '×') + ' multifd ÷ plain' } else { '' }
    $lines.Add("| $name | $a | $b | $c |")
}
& $row "Steady (client only, $WindowSec s): checkpoints" 'Count' '0' ''
& $row '… of them forced by colo-compare' 'Forced' '0' ''
& $row 'Steady: checkpoint pause, median' 'Median' '0.0' ' ms' -ratio
& $row 'Steady: checkpoint pause, p99' 'P99' '0.0' ' ms' -ratio
& $row "With divergence (client + an ICMP timestamp request every $ProbePeriodMs ms, $DivergeSec s): checkpoints" 'DCount' '0' ''
& $row '… of them forced by colo-compare' 'DForced' '0' ''
& $row 'With divergence: checkpoint pause, median (all)' 'DMedian' '0.0' ' ms' -ratio
& $row 'With divergence: checkpoint pause, p99 (all)' 'DP99' '0.0' ' ms' -ratio
& $row 'With divergence: pause of the forced checkpoints, median' 'DForcedMedian' '0.0' ' ms' -ratio
& $row 'With divergence: client throughput' 'DTp' '0.0' ' req/s' -ratio
$lines.Add("| Runs whose secondary guest kernel crashed (its console: Oops / BUG / panic) | $(@($plain | Where-Object Oops).Count) of $($plain.Count) | $(@($mfd | Where-Object Oops).Count) of $($mfd.Count) |  |")
& $row 'RAM sent over the pair''s life (query-migrate after failover)' 'MiB' '0.0' ' MiB'
& $row '… of it over multifd channels (ram.multifd-bytes)' 'MultifdMiB' '0.0' ' MiB'
& $row '… per checkpoint (first migration included)' 'MiBPerCheckpoint' '0.00' ' MiB'
$lines.Add('')
$lines.Add('| Client through the pair | Protected | Same guest alone (after failover) | Ratio protected ÷ alone |')
$lines.Add('|---|---|---|---|')
$sets = @(@{ Name = 'Plain'; S = $plain }, @{ Name = 'Multifd'; S = $mfd })
# A run whose secondary crashed measures a broken pair (every answer waits for the next periodic
# checkpoint): the same rows over the runs whose secondary stayed healthy.
foreach ($x in @(@{ Name = 'Plain'; S = $plain }, @{ Name = 'Multifd'; S = $mfd })) {
    $healthy = @($x.S | Where-Object { -not $_.Oops })
    if ($healthy.Count -and $healthy.Count -lt $x.S.Count) { $sets += @{ Name = "$($x.Name), the $($healthy.Count) run(s) with a healthy secondary"; S = $healthy } }
}
foreach ($set in $sets) {
    if (-not $set.S) { continue }
    $s = $set.S
    foreach ($m in @(@{ N = 'latency, median'; P = 'LatProt'; U = 'LatUnprot'; F = '0.0'; Unit = ' ms' }, @{ N = 'latency, p99'; P = 'P99Prot'; U = 'P99Unprot'; F = '0.0'; Unit = ' ms' },
            @{ N = 'throughput'; P = 'TpProt'; U = 'TpUnprot'; F = '0.0'; Unit = ' req/s' })) {
        $ratios = [double[]]@($s | ForEach-Object { if ($_.($m.U) -gt 0) { $_.($m.P) / $_.($m.U) } else { [double]::NaN } })
        $lines.Add("| $($set.Name): $($m.N) | $(Format-Spread ([double[]]@($s | ForEach-Object $m.P)) $m.F $m.Unit) | $(Format-Spread ([double[]]@($s | ForEach-Object $m.U)) $m.F $m.Unit) | $(Format-Spread $ratios '0.00' '×') |")
    }
}
$lines.Add('')
$lines.Add('How the Multifd pairs enabled multifd (QEMU 11: capability `multifd` on both sides, the same `multifd-channels` on both, with `x-colo` and `return-path`):')
$lines.Add('')
$lines.Add("- secondary: ``-global migration.x-multifd=on -global migration.multifd-channels=$MultifdChannels`` on its command line. Over QMP, ``migrate-set-capabilities multifd`` on a QEMU started with ``-incoming tcp:…`` (as ColoPS starts the secondary) fails with ``Multifd must be set before incoming starts`` (seen on 11.1.3); the other way is ``-incoming defer``, then the capability, then ``migrate-incoming``")
$lines.Add("- primary: ``migrate-set-capabilities {multifd: true}`` and ``migrate-set-parameters {multifd-channels: $MultifdChannels}`` sent by the benchmark to the primary QEMU it started, before ``Start-ColoPrimary -Session`` (which adds return-path and x-colo and sends migrate)")
$lines.Add('')
$lines.Add('Migration settings as each side reported them (query-migrate-capabilities / -parameters) after the pair was protected:')
$lines.Add('')
foreach ($p in $ok | Group-Object variant | ForEach-Object { $_.Group[0] }) {
    $lines.Add("- $($p.variant): primary (A) ``$($p.multifd.A)``; secondary (B) ``$($p.multifd.B)``")
}
$crashed = @($ok | Where-Object { $_.secondary -and $_.secondary.oops })
if ($crashed) {
    $lines.Add('')
    $lines.Add('Secondary guest kernel crashes (from its console):')
    $lines.Add('')
    foreach ($c in $crashed) { $lines.Add("- $($c.variant), run $([int]$c.run + 1): ``$((@($c.secondary.oopsLines) | Select-Object -First 3) -join ' / ')``") }
}
$failed = @($pairs | Where-Object { $_.error })
if ($failed) {
    $lines.Add('')
    $lines.Add('Failed pairs:')
    $lines.Add('')
    foreach ($f in $failed) {
        $lines.Add("- $($f.variant), run $([int]$f.run + 1): $($f.error)")
        foreach ($d in @($f.diagnostics)) { $lines.Add("  - $d") }
        foreach ($site in 'A', 'B') { if ($f.PSObject.Properties["log$site"]) { $lines.Add("  - QEMU log $site (end): ``$((@($f."log$site") | Select-Object -Last 4) -join ' | ')``") } }
    }
}
$lines.Add('')
$lines.Add('Per pair:')
$lines.Add('')
$lines.Add('| Run | Variant | Steady: checkpoints (forced) | Steady: pause median / p99 / max | Divergence: checkpoints (forced), pause median / p99 | Protected: req/s, latency median / p99 | Alone: req/s, latency median / p99 |')
$lines.Add('|---|---|---|---|---|---|---|')
foreach ($p in $ok) {
    $s = Get-PairStat $p
    $max = if ($s.Count) { (@($p.checkpoints | ForEach-Object pauseMs) | Measure-Object -Maximum).Maximum } else { [double]::NaN }
    $lines.Add(('| {0} | {1} | {2} ({3}) | {4:0.0} / {5:0.0} / {6:0.0} ms | {13} ({14}), {15:0.0} / {16:0.0} ms | {7:0.0}, {8:0.0} / {9:0.0} ms | {10:0.0}, {11:0.0} / {12:0.0} ms |' -f ($s.Run + 1), $s.Variant, $s.Count, $s.Forced,
            $s.Median, $s.P99, $max, $s.TpProt, $s.LatProt, $s.P99Prot, $s.TpUnprot, $s.LatUnprot, $s.P99Unprot, $s.DCount, $s.DForced, $s.DMedian, $s.DP99))
}

Write-Host ''
$lines | ForEach-Object { Write-Output $_ }
$null = New-Item -ItemType Directory -Force -Path (Split-Path $OutputPath)
$lines | Set-Content -Path $OutputPath -Encoding utf8
Write-Host "Report written to $OutputPath"
# A failed Multifd pair is a finding about QEMU's experimental multifd for COLO (reported above), not a failed benchmark.
if ($innerExit -ne 0 -or @($failed | Where-Object variant -ne 'Multifd').Count -gt 0 -or @($ok | Where-Object variant -eq 'Plain').Count -eq 0) { exit 1 }
#endregion
