# The proof's 'Guarded' scenario, dot-sourced by Invoke-ColoProof.ps1 (it uses that script's
# client, configuration, nodes and checks): the pair's monitors go to a guard per site with an etcd
# witness and Witness.Reprotect; the primary QEMU of each side is killed in turn and the guards do
# everything else. The test only moves the serving tap (the network's part of a failover, which on
# real switches announce-self does), checks the survivor through the guest and samples both QEMUs
# every 100 ms (GuardHelpers' Watch-Pair: a sample with two primaries fails the run).

function Invoke-GuardedCycles {
    Import-Module (Join-Path $PSScriptRoot '../Pester/GuardHelpers.psm1') -Force
    # The guards import the module this run imports.
    $env:COLOPS_MODULE = $ModulePath
    $script:etcd = Start-TestEtcd -Directory $WorkDirectory -Port ($PortBase + 40)
    $cfg.Witness = [ColoPS.Colo.ColoWitnessConfig]@{ Endpoints = @($etcd.Url); Pair = "proof-$PortBase-$PID"; Reprotect = $true }
    $path = Join-Path $WorkDirectory 'proof.colo.json'
    $cfg | Export-ColoConfig -Path $path
    $primary = "$($P.Site)"
    # QEMU's main monitor serves one client: the guards take it over.
    Get-QmpSession | Disconnect-QmpSession -Confirm:$false
    $script:guards = @{}
    $script:guardLogs = @{ A = "$ResultPath.guard-A.log"; B = "$ResultPath.guard-B.log" }
    foreach ($site in 'A', 'B') { Remove-Item $guardLogs[$site] -ErrorAction Ignore; $guards[$site] = Start-TestGuard -ConfigPath $path -Site $site -LogPath $guardLogs[$site] }
    $sessions = @{}
    function Wait-GuardedProtected([string] $primarySite, [int] $timeoutSec) {
        $w = Watch-Pair -Config $cfg -Sessions $sessions -TimeoutSec $timeoutSec -Until {
            param($a, $b)
            $p, $s = if ($primarySite -eq 'A') { $a, $b } else { $b, $a }
            if (-not ($p -and $s -and $p.Mode -eq 'primary' -and $s.Mode -eq 'secondary')) { return $false }
            $st = Get-ColoGuardStatus -Config $cfg
            $gp = $st | Where-Object Site -eq $primarySite; $gs = $st | Where-Object Site -ne $primarySite
            $gp.State -eq 'Running' -and $gs.State -eq 'Running' -and $gp.Own -eq 'ProtectedPrimary' -and $gs.MyEpoch -ge 1 -and $gs.MyEpoch -eq $gp.MyEpoch
        }
        if ($null -eq $w.Seconds) { throw "The guards did not protect the pair with $primarySite primary in $timeoutSec s (A: $((Get-ColoGuardStatus $cfg A).Reason); B: $((Get-ColoGuardStatus $cfg B).Reason))." }
        $w
    }
    # A guard's first tick comes after pwsh starts and imports the module: 84 s was seen at a load average of 25.
    $null = Wait-GuardedProtected $primary 240
    Note "guards protect the pair (witness $($etcd.Url))"
    for ($i = 1; $i -le $Failovers; $i++) {
        $survivor = if ($primary -eq 'A') { 'B' } else { 'A' }
        $before = $client.AckCount
        $t = [System.Diagnostics.Stopwatch]::StartNew()
        & kill -KILL ([int](Get-Content $cfg.PidFileOf($primary) -Raw).Trim())
        $w = Watch-Pair -Config $cfg -Sessions $sessions -TimeoutSec 60 -Until {
            param($a, $b)
            $s = if ($survivor -eq 'A') { $a } else { $b }
            $s -and $s.Mode -eq 'none' -and $s.Status -eq 'running'
        }
        if ($null -eq $w.Seconds) { throw "Failover $i`: $survivor's guard did not take over in 60 s ($((Get-ColoGuardStatus $cfg $survivor).Reason))." }
        $samples = $w.Samples
        $takeover = [math]::Round($t.Elapsed.TotalSeconds, 3)
        Set-ServingSite $survivor
        # A fresh connection before the guard's resume (the old one's sequence offset lives in the survivor's filter-rewriter only).
        $client.Reconnect()
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ($client.AckCount -eq $before -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
        if ($client.AckCount -eq $before) { throw "Failover $i`: no write acknowledged within 60 s of the kill." }
        $toAck = [math]::Round($t.Elapsed.TotalSeconds, 3)
        $result.failovers++
        $result.failoverSeconds += $takeover
        $wait = Get-FailoverWait $before
        $check = Test-Survivor "after guarded failover $i to $survivor"
        $w = Wait-GuardedProtected $survivor 180
        $samples += $w.Samples
        $protectedIn = [math]::Round($t.Elapsed.TotalSeconds, 3)
        $result.resumeSeconds += $protectedIn
        # Fewer than the hand-driven proof's: ten rounds must fit the suite's time.
        Wait-Acks ([math]::Min($ProtectedAcks, 5)) -what 'protected writes'
        Note "guarded failover $i`: $primary killed, $survivor ran alone after $takeover s, next acknowledged write after $toAck s, protected again after $protectedIn s; $samples samples, none with two primaries"
        $script:result.cycles += [ordered]@{ failover = $i; lost = $primary; role = 'primary'; survivor = $survivor; failoverSeconds = $takeover; killToNextAckSeconds = $toAck; reprotectedSeconds = $protectedIn; clientWaitMs = $wait; samples = $samples; twoPrimarySamples = 0; check = $check }
        $primary = $survivor
    }
    # The common ending stops both nodes and reads their disks offline: give the monitors back.
    foreach ($site in 'A', 'B') { Stop-TestProcess $guards[$site] }
    $sessions.Values | Where-Object { $_ } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    $script:P = Connect-ColoNode -Config $cfg -Site $primary
    $script:S = Connect-ColoNode -Config $cfg -Site $(if ($primary -eq 'A') { 'B' } else { 'A' })
    $script:nodes = @{ "$($P.Site)" = $P; "$($S.Site)" = $S }
    $script:mark = $P.Session.LastEventSequence
    Stop-TestProcess $etcd.Process
}
