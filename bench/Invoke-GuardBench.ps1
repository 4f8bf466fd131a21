#Requires -Version 7.4
<#
.SYNOPSIS
    Benchmarks the guard's automatic failover on guest-less QEMU 11 pairs whose sites are network
    namespaces: the primary's QEMU killed (goal: the survivor runs alone within 1 s) and the whole
    primary site lost (goal: within the lease TTL + 0.5 s). Prints a Markdown report and writes it.

.DESCRIPTION
    Reuses the partition suite's parts (tests/Pester/GuardSiteHelpers.psm1): a namespace per site
    joined by one veth link, etcd in a third namespace reachable from both, each site's QEMU and
    guard inside its namespace, the guards' heartbeat on. Per run and case a fresh pair is started
    and guarded (both guards hear each other, the primary owns epoch 1), then:
      PrimaryKilled  SIGKILL to site A's QEMU only: A's guard sees it gone and releases its lease at
                     once, B's guard claims and takes over;
      SiteLost       SIGKILL to every process in site A's namespace (QEMU and guard): nobody releases
                     the lease, B waits it out.
    The time is from the signal to the survivor's FailOver decision in its guard log (written once
    failover and announce-self are done); the time at which sampling first saw B running alone is
    reported beside it. SiteLost is also given as a ratio to the TTL. Median and min-max over runs.
    Every sample of both QEMUs also checks that they never both send (two primaries).

    Every QEMU, guard, etcd, namespace (prefix gb) and folder (/tmp/colops-gb-*) is removed in
    finally blocks.

.PARAMETER ModulePath
    The staged module manifest (out/ColoPS/ColoPS.psd1).

.PARAMETER Runs
    Runs per case (default 5; 1 with -Quick).

.PARAMETER Quick
    One run per case; the report goes to out/bench/GUARD.md instead of bench/GUARD.md.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Runs = 5,
    [switch] $Quick
)
$ErrorActionPreference = 'Stop'
if ($Quick) { $Runs = 1 }
$root = Split-Path $PSScriptRoot
$env:COLOPS_MODULE = (Resolve-Path $ModulePath).Path
Import-Module $env:COLOPS_MODULE -Force
Import-Module (Join-Path $root 'tests/Pester/GuardHelpers.psm1') -Force
Import-Module (Join-Path $root 'tests/Pester/GuardSiteHelpers.psm1') -Force

$ttl = 2
$dir = Join-Path '/tmp' ('colops-gb-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory $dir
$net = $null; $etcd = $null
$rows = [System.Collections.Generic.List[object]]::new()

function Get-Median([double[]] $v) {
    $s = @($v | Sort-Object); $n = $s.Count
    if ($n -eq 0) { return $null }
    if ($n % 2) { $s[[int](($n - 1) / 2)] } else { ($s[$n / 2 - 1] + $s[$n / 2]) / 2 }
}

try {
    $net = New-GuardSiteNetwork -Prefix gb
    $etcd = Start-SiteEtcd -Network $net -Directory $dir
    $port = 26000
    for ($run = 1; $run -le $Runs; $run++) {
        foreach ($case in 'PrimaryKilled', 'SiteLost') {
            $port += 100
            $pair = New-SitePair -Network $net -Etcd $etcd -Directory $dir -Name "gb$run$($case.Substring(0, 1).ToLower())" -PortBase $port
            try {
                $null = Wait-SitePairGuarded $pair
                $load = [double]((Get-Content /proc/loadavg) -split ' ')[0]
                $fault = [DateTimeOffset]::Now
                if ($case -eq 'PrimaryKilled') {
                    $qemuPid = [int](Get-Content $pair.Config.PidFileOf('A'))
                    & kill -KILL $qemuPid
                }
                else { Invoke-SiteFault -Network $net -Fault Kill }
                $w = Watch-SitePair -Pair $pair -TimeoutSec 20 -Until { param($a, $b) $b -and $b.Mode -eq 'none' -and $b.Status -eq 'running' }
                $d = Get-GuardDecision -LogPath "$($pair.Dir)/B.guard.log" -Action FailOver -After $fault
                if ($null -eq $w.Seconds -or -not $d) { throw "$case run $($run): B did not take over ($((Get-ColoGuardStatus $pair.Config B).Reason))" }
                $s = ([DateTimeOffset]$d.Time - $fault).TotalSeconds
                # Where the time went: each step's decision is logged once its actions are done.
                function Since($decision) { if ($decision) { [math]::Round(([DateTimeOffset]$decision.Time - $fault).TotalSeconds, 3) } }
                $release = if ($case -eq 'PrimaryKilled') { Since (Get-GuardDecision -LogPath "$($pair.Dir)/A.guard.log" -Action ReleaseLease -After $fault -TimeoutSec 1) }
                $claim = Since (Get-GuardDecision -LogPath "$($pair.Dir)/B.guard.log" -Action Claim -After $fault -TimeoutSec 1)
                $fence = Since (Get-GuardDecision -LogPath "$($pair.Dir)/B.guard.log" -Action RunFencingHook -After $fault -TimeoutSec 1)
                $rows.Add([pscustomobject]@{ Case = $case; Run = $run; Seconds = [math]::Round($s, 3); Sampled = [math]::Round($w.Seconds, 3); TwoPrimaries = $w.TwoPrimaries; Samples = $w.Samples
                        Release = $release; Claim = $claim; Fence = $fence; Load = $load })
                Write-Host ("{0} run {1}: {2:0.000} s to the takeover (sampled {3:0.00} s; release {4}, claim {5}, fence {6}; load {7}), two-primary samples {8}" -f $case, $run, $s, $w.Seconds, $release, $claim, $fence, $load, $w.TwoPrimaries)
            }
            finally { Remove-SitePair $pair }
        }
    }
}
finally {
    if ($etcd) { Stop-TestProcess $etcd.Process }
    Remove-GuardSiteNetwork $net
    Remove-Item $dir -Recurse -Force -ErrorAction Ignore
}

$qemuVersion = (& qemu-system-x86_64 --version | Select-Object -First 1)
$lines = @(
    '# Guard failover benchmark',
    '',
    "Written by bench/Invoke-GuardBench.ps1 on $((Get-Date).ToUniversalTime().ToString('yyyy-MM-dd HH:mm')) UTC: $Runs run(s) per case, $qemuVersion, TCG, guest-less pairs",
    "(128 MiB, a checkpoint every 2 s), each site a network namespace, etcd in a third, lease TTL $ttl s, guard tick 200 ms, heartbeat window 0.8 s.",
    'Time: from the SIGKILL to the survivor''s FailOver decision in its guard log (logged once failover and announce-self are done);',
    '"sampled" is when sampling both QEMUs every ~100 ms first saw the survivor running alone.',
    '',
    '| Case | Goal | Median | Min - max | Sampled median | Ratio to TTL (median) | Two-primary samples |',
    '|---|---|---|---|---|---|---|'
)
foreach ($case in 'PrimaryKilled', 'SiteLost') {
    $r = @($rows | Where-Object Case -eq $case)
    if (-not $r) { continue }
    $m = Get-Median $r.Seconds
    $goal = if ($case -eq 'PrimaryKilled') { '< 1 s' } else { "< TTL + 0.5 s ($($ttl + 0.5) s)" }
    $ratio = if ($case -eq 'SiteLost') { '{0:0.00}' -f ($m / $ttl) } else { '-' }
    $lines += '| {0} | {1} | {2:0.00} s | {3:0.00} - {4:0.00} s | {5:0.00} s | {6} | {7} |' -f $case, $goal, $m, ($r.Seconds | Measure-Object -Minimum).Minimum,
        ($r.Seconds | Measure-Object -Maximum).Maximum, (Get-Median $r.Sampled), $ratio, (($r.TwoPrimaries | Measure-Object -Sum).Sum)
}
$lines += '', '## Breakdown (medians, seconds after the SIGKILL; each step logged once its actions are done)', '',
    '| Case | A released its lease | B claimed | B fenced | B failed over and announced | Load average (1 min, median) |', '|---|---|---|---|---|---|'
foreach ($case in 'PrimaryKilled', 'SiteLost') {
    $r = @($rows | Where-Object Case -eq $case)
    if (-not $r) { continue }
    function Med([object[]] $v) { $x = @($v | Where-Object { $null -ne $_ }); if ($x.Count) { '{0:0.00}' -f (Get-Median $x) } else { '-' } }
    $lines += "| $case | $(Med $r.Release) | $(Med $r.Claim) | $(Med $r.Fence) | $(Med $r.Seconds) | $(Med $r.Load) |"
}
$lines += '', '## What the time is made of', '',
    '- SiteLost: nobody releases the lost site''s lease, so the survivor waits for etcd to expire it: the TTL counts from the',
    '  last renewal the lost guard sent (renewals every TTL/4, so 0.75 to 1 TTL after the fault), plus etcd''s own expiry',
    '  check, plus the survivor''s next tick (the witness watch wakes it), the claim, the fencing step and the failover.',
    '- PrimaryKilled: the killed QEMU''s own guard is woken by the end of its QMP session, sees the process gone and releases',
    '  the lease at once; the survivor has COLO_EXIT by then, is woken by the witness watch and claims as soon as the owner',
    '  key is gone; the next tick fences and fails over in one decision. The spread comes from the guards'' QMP looks and',
    '  etcd round trips, which wait on a loaded host (2 cores shared with other TCG suites; see the load average column).',
    '- Both are measured to the FailOver decision in the survivor''s log, which is written after failover and announce-self.'
$lines += '', '## Runs', '', '| Case | Run | Seconds | Sampled | Release | Claim | Fence | Load | Samples | Two-primary samples |', '|---|---|---|---|---|---|---|---|---|---|'
foreach ($x in $rows) { $lines += "| $($x.Case) | $($x.Run) | $($x.Seconds) | $($x.Sampled) | $($x.Release) | $($x.Claim) | $($x.Fence) | $($x.Load) | $($x.Samples) | $($x.TwoPrimaries) |" }
$report = $lines -join "`n"
$target = if ($Quick) { Join-Path $root 'out/bench/GUARD.md' } else { Join-Path $PSScriptRoot 'GUARD.md' }
$null = New-Item -ItemType Directory (Split-Path $target) -Force
$report | Set-Content $target
Write-Host $report
if (@($rows | Where-Object TwoPrimaries -gt 0)) { exit 1 }
