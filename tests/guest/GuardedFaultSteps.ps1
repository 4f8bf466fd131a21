# The steps of tests/guest/GuardedFaults.ps1, dot-sourced inside Invoke-GuardedFaults: they use its
# variables (the configuration, the site namespaces and links, the guards, the current primary, the
# sampler's sessions) and the proof's client and checks. A fault is struck with New-Fault, waited
# through with Wait-Alone (a takeover) and ended with Complete-Fault (the client's next write, the
# check through the guest, the guards' re-protection); its record is kept in the proof's result.
function Start-FaultGuard([string] $site) {
    # Each start of a site's guard logs to its own file (kept beside the result), so a restarted guard's decisions read alone.
    $starts[$site]++
    $log = "$ResultPath.guard-$site.$($starts[$site]).log"
    Remove-Item $log -ErrorAction Ignore
    $script:result.guardLogs += $log
    $script:guards[$site] = Start-SiteGuard -Namespace $siteNs[$site] -ConfigPath $path -Site $site -LogPath $log
    Note "guard $site started in $($siteNs[$site]) (pid $($guards[$site].Id), $(Split-Path -Leaf $log))"
    $log
}
function Restart-EndedGuard {
    # systemd's Restart= for a guard whose process ended (killed with its site, or frozen and then fenced by the hook).
    foreach ($site in 'A', 'B') {
        if ($guards[$site].HasExited) { $null = Start-FaultGuard $site; $restarted.Add($site) }
    }
}
function Read-GuardLog([string[]] $logs) {
    # Line by line: a line the guard is still writing is left for the next read.
    @($logs | ForEach-Object { Get-Content $_ -ErrorAction Ignore } | ForEach-Object { try { $_ | ConvertFrom-Json } catch { } })
}
function Get-GuardLog([string] $site) { Read-GuardLog @($script:result.guardLogs | Where-Object { $_ -like "*.guard-$site.*" }) }
function Find-Decision([string] $site, [string[]] $action, [DateTimeOffset] $after, [int] $timeoutSec = 5) {
    # The first decision of a site's guards (any start) with one of the actions after a moment; $null when none comes.
    $deadline = [DateTime]::UtcNow.AddSeconds($timeoutSec)
    do {
        $hit = Get-GuardLog $site | Where-Object { @($_.Actions | Where-Object { $_ -in $action }).Count -gt 0 -and [DateTimeOffset]$_.Time -ge $after } | Select-Object -First 1
        if ($hit) { return $hit }
        Start-Sleep -Milliseconds 100
    } while ([DateTime]::UtcNow -lt $deadline)
    $null
}
function Get-SitePid([string] $site) { [int](Get-Content $cfg.PidFileOf($site) -Raw).Trim() }
function Get-GuardWords { (@(Get-ColoGuardStatus -Config $cfg) | ForEach-Object { "$($_.Site): $($_.State) $($_.Own), $($_.Reason)" }) -join '; ' }

function Watch-Faults([scriptblock] $until, [int] $timeoutSec) { Watch-SitePair -Pair $view -TimeoutSec $timeoutSec -Until $until }
function Test-InColo([string] $pri, $a, $b) {
    $pv, $sv = if ($pri -eq 'A') { $a, $b } else { $b, $a }
    # Modes only: a sample taken during a checkpoint finds the VMs stopped for a moment.
    [bool]($pv -and $sv -and $pv.Mode -eq 'primary' -and $sv.Mode -eq 'secondary')
}
# A guard hears its peer: the heartbeat's words, after what it says of the peer's QEMU (a primary
# whose secondary is the fresh one announced at the peer's site says that first).
$HeardPeer = '(peer: |; )heartbeat \d+ ms ago'
function Test-GuardsProtect([string] $pri) {
    $st = @(Get-ColoGuardStatus -Config $cfg)
    $gp = $st | Where-Object Site -eq $pri; $gs = $st | Where-Object Site -ne $pri
    [bool]($gp.State -eq 'Running' -and $gs.State -eq 'Running' -and $gp.Own -eq 'ProtectedPrimary' -and $gs.Own -eq 'ProtectedSecondary' -and
        $gs.MyEpoch -ge 1 -and $gs.MyEpoch -eq $gp.MyEpoch -and $gp.Witness -ne 'Unreachable' -and $gs.Witness -ne 'Unreachable' -and
        $gp.Detail -match $HeardPeer -and $gs.Detail -match $HeardPeer)
}
function Wait-FaultsProtected($rec, [string] $pri, [int] $timeoutSec) {
    # The pair in COLO with $pri primary, both guards running, agreeing on the epoch, reaching the witness and hearing each other.
    $w = Watch-Faults -timeoutSec $timeoutSec -until {
        param($a, $b)
        Restart-EndedGuard
        (Test-InColo $pri $a $b) -and (Test-GuardsProtect $pri)
    }
    if ($rec) { Add-Watch $rec $w }
    if ($null -eq $w.Seconds) { throw "$(if ($rec) { $rec.fault } else { 'start' }): the guards did not protect the pair with $pri primary in $timeoutSec s ($(Get-GuardWords))." }
    $w
}
function Add-Watch($rec, $w) { $rec.samples += $w.Samples; $rec.twoPrimarySamples += $w.TwoPrimaries }

function New-Fault([string] $name, [string] $struck) {
    # The record of one fault, and its clock: everything is timed from the moment the fault is struck.
    $rec = [ordered]@{
        fault = $name; struck = $struck; primaryBefore = $primary; survivor = $null; faultToAloneSeconds = $null; faultToNextAckSeconds = $null
        reprotectedSeconds = $null; samples = 0; twoPrimarySamples = 0; clientWaitMs = $null; acknowledged = 0; lost = $null; inOrder = $null
        guardsRestarted = @(); decisions = [ordered]@{}; notes = @()
    }
    $at = [DateTimeOffset]::Now
    $f = [pscustomobject]@{ Clock = [System.Diagnostics.Stopwatch]::StartNew(); At = $at; Before = $client.AckCount }
    $rec, $f
}
function Wait-Alone($rec, $f, [string[]] $candidates, [int] $timeoutSec = 60) {
    # Until one of the candidate sites runs the VM alone; it becomes the primary (the serving tap follows it).
    $w = Watch-Faults -timeoutSec $timeoutSec -until {
        param($a, $b)
        foreach ($c in $candidates) { $x = if ($c -eq 'A') { $a } else { $b }; if ($x -and $x.Mode -eq 'none' -and $x.Status -eq 'running') { return $true } }
        $false
    }
    Add-Watch $rec $w
    if ($null -eq $w.Seconds) { throw "$($rec.fault): no side of $($candidates -join '/') ran the VM alone within $timeoutSec s ($(Get-GuardWords))." }
    $alone = if ($w.A -and $w.A.Mode -eq 'none' -and $w.A.Status -eq 'running') { 'A' } else { 'B' }
    $rec.survivor = $alone
    $rec.faultToAloneSeconds = [math]::Round($f.Clock.Elapsed.TotalSeconds, 3)
    if ($alone -ne $primary) { Set-ServingSite $alone }
    $script:result.failovers++
    $script:result.failoverSeconds += $rec.faultToAloneSeconds
    Set-Variable -Name primary -Value $alone -Scope 1
    # A fresh connection before the guards' resume (after a primary failover the old one's sequence offset lives in the survivor's filter-rewriter only).
    $client.Reconnect()
}
function Complete-Fault($rec, $f, [int] $timeoutSec = 180) {
    # The client's next acknowledged write, the guest's own count, the guards' re-protection and a few protected writes.
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while ($client.AckCount -eq $f.Before -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
    if ($client.AckCount -eq $f.Before) { throw "$($rec.fault): no write acknowledged within 60 s ($(Get-GuardWords); client: $($client.Events() | Select-Object -Last 3))." }
    $next = $client.Acks()[$f.Before]
    $rec.faultToNextAckSeconds = [math]::Round(($next.AckedUtc - $f.At.UtcDateTime).TotalSeconds, 3)
    $rec.clientWaitMs = Get-FailoverWait $f.Before
    $check = Test-Survivor "after $($rec.fault)"
    $rec.acknowledged = $check.acknowledged; $rec.lost = $check.lost; $rec.inOrder = $check.inOrder
    $null = Wait-FaultsProtected $rec $primary $timeoutSec
    $rec.reprotectedSeconds = [math]::Round($f.Clock.Elapsed.TotalSeconds, 3)
    $script:result.resumeSeconds += $rec.reprotectedSeconds
    $rec.guardsRestarted = @($restarted)
    $restarted.Clear()
    # Fewer than the hand-driven proof's: nine faults must fit the suite's time.
    Wait-Acks 3 -what "protected writes after $($rec.fault)"
    Note ("{0}: {1} struck; {2} alone after {3} s; next acknowledged write after {4} s; protected again after {5} s ({6} primary); {7} samples, {8} with two primaries" -f
        $rec.fault, $rec.struck, $(if ($rec.survivor) { $rec.survivor } else { 'nobody' }), $rec.faultToAloneSeconds, $rec.faultToNextAckSeconds, $rec.reprotectedSeconds, $primary, $rec.samples, $rec.twoPrimarySamples)
    $script:result.faults += $rec
}
function Set-SiteLinks([string] $site, [string] $state, [string[]] $which) {
    foreach ($l in $which) { Invoke-Ip -n $siteNs[$site] link set $links[$site][$l] $state }
}
function Get-NsPids([string] $site) { @(& ip netns pids $siteNs[$site] 2>$null | Where-Object { $_ -match '^\d+$' }) }
function Save-Decision($rec, [string] $key, $d, $f) {
    if (-not $d) { $rec.decisions[$key] = $null; return }
    $rec.decisions[$key] = [ordered]@{ site = $d.Site; seconds = [math]::Round(([DateTimeOffset]$d.Time - $f.At).TotalSeconds, 3); actions = @($d.Actions); reason = $d.Reason; outcomes = @($d.Outcomes) }
}
