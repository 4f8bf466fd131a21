# Partitions and site loss (issue 10): each site a network namespace with its QEMU 11 (guest-less,
# a checkpoint every 2 s) and its guard, etcd in a third namespace reachable from both, the sites
# joined by one veth link. Both QEMUs are sampled throughout; no sample may show two of them able to
# send (one running alone while the other runs alone or as a COLO primary). Per case the time from
# the fault to the survivor's takeover decision (its guard log) and the two-primary samples are
# written to out/TestResults/guard-sites.json with the guards' decision logs.

BeforeDiscovery {
    $script:Ready = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command etcd -ErrorAction Ignore) `
        -and [bool](Get-Command ip -ErrorAction Ignore) -and [bool](Get-Command curl -ErrorAction Ignore) -and ((& id -u) -eq '0')
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'GuardHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'GuardSiteHelpers.psm1') -Force
    Import-ColoPSUnderTest
    $script:tmp = New-TestDirectory
    $script:results = [ordered]@{}
    $script:resultDir = Join-Path $PSScriptRoot '../../out/TestResults'
    $script:ttl = 2
    try {
        $script:net = New-GuardSiteNetwork -Prefix gs
        $script:etcd = Start-SiteEtcd -Network $net -Directory $tmp
    }
    catch { Remove-GuardSiteNetwork $script:net; throw }

    function Save-CaseResult {
        param([string] $Case, $Pair, $Figures)
        $results[$Case] = $Figures
    }

    function Save-CaseLog {
        # In finally: a failed case's decision logs are what explains it.
        param([string] $Case, $Pair)
        if ($Pair -and (Test-Path $resultDir)) {
            $logs = Join-Path $resultDir 'guard-sites'
            $null = New-Item -ItemType Directory $logs -Force
            foreach ($s in 'A', 'B') { Copy-Item "$($Pair.Dir)/$s.guard.log" (Join-Path $logs "$Case-$s.guard.log") -ErrorAction Ignore }
        }
    }

    function Measure-Takeover {
        # From the fault to the survivor's logged FailOver (written once its actions are done), and the sampled view.
        param($Pair, [DateTimeOffset] $Fault, $Watch, [string] $Site = 'B')
        $d = Get-GuardDecision -LogPath "$($Pair.Dir)/$Site.guard.log" -Action FailOver -After $Fault
        $d | Should -Not -BeNullOrEmpty -Because "$Site's guard logs its failover"
        $d.Outcomes | Should -Not -Match 'failed:'
        [ordered]@{
            FaultToTakeoverSeconds = [math]::Round(([DateTimeOffset]$d.Time - $Fault).TotalSeconds, 2)
            FaultToSampledAloneSeconds = [math]::Round($Watch.Seconds, 2)
            Samples = $Watch.Samples; TwoPrimarySamples = $Watch.TwoPrimaries; Reason = $d.Reason
        }
    }

    function Invoke-SiteCase {
        <#
        One case: a fresh guarded pair, the fault, the watch until the survivor runs the VM alone
        (in COLO mode none), the takeover measured and saved; then the case's own checks, given the
        pair, the fault's time, the watch and the figures. The decision logs are kept either way.
        #>
        param([string] $Case, [string] $Name, [int] $PortBase, [string] $Fault, [string] $Survivor = 'B', [string] $FencingHook, [scriptblock] $Check)
        $extra = if ($FencingHook) { @{ FencingHook = $FencingHook } } else { @{} }
        $pair = New-SitePair -Network $net -Etcd $etcd -Directory $tmp -Name $Name -PortBase $PortBase @extra
        try {
            $null = Wait-SitePairGuarded $pair
            $at = [DateTimeOffset]::Now
            Invoke-SiteFault -Network $net -Fault $Fault
            $alone = if ($Survivor -eq 'A') { { param($a, $b) $a -and $a.Mode -eq 'none' -and $a.Status -eq 'running' } } else { { param($a, $b) $b -and $b.Mode -eq 'none' -and $b.Status -eq 'running' } }
            $w = Watch-SitePair -Pair $pair -TimeoutSec 20 -Until $alone
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "$Survivor runs the VM alone ($((Get-ColoGuardStatus $pair.Config $Survivor).Reason))"
            $f = Measure-Takeover -Pair $pair -Fault $at -Watch $w -Site $Survivor
            Save-CaseResult $Case $pair $f
            & $Check $pair $at $w $f
        }
        finally { Save-CaseLog $Case $pair; Remove-SitePair $pair }
    }
}

AfterAll {
    if ($script:etcd) { Stop-TestProcess $etcd.Process }
    Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$tmp*" } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    Remove-GuardSiteNetwork $script:net
    Remove-TestDirectory -Directory $tmp
    $json = $results | ConvertTo-Json -Depth 4
    Write-Host $json
    if (Test-Path $resultDir) { $json | Set-Content (Join-Path $resultDir 'guard-sites.json') }
}

Describe 'Start-ColoGuard across site namespaces' -Tag 'Guard' -Skip:(-not $Ready) {
    It 'the link between the sites cut while both reach the witness: A drops replication, B stays stale' {
        Invoke-SiteCase -Case LinkCut -Name gsl -PortBase 25100 -Fault CutLink -Survivor A -Check {
            param($pair, $fault, $w, $f)
            $f.Reason | Should -Match 'primary failover'
            # Past two TTLs: B must never take over, and its guard knows it is stale.
            $after = Watch-SitePair -Pair $pair -TimeoutSec (2 * $ttl + 1) -Until { param($a, $b) $b -and $b.Mode -eq 'none' -and $b.Status -eq 'running' }
            $after.Seconds | Should -BeNullOrEmpty -Because 'the stale secondary never runs alone'
            $sb = Get-ColoGuardStatus $pair.Config B
            $sb.Reason | Should -Match 'stale'
            $sb.WitnessEpoch | Should -Be 2
            $f.TwoPrimarySamples = $w.TwoPrimaries + $after.TwoPrimaries
            $f.Samples = $w.Samples + $after.Samples
            $f.TwoPrimarySamples | Should -Be 0
        }
    }

    It 'site A cut off from everything: A stops its VM, B takes over after the TTL' {
        Invoke-SiteCase -Case SiteCutOff -Name gso -PortBase 25200 -Fault CutOff -Check {
            param($pair, $fault, $w, $f)
            # StopVm by the tick, or KillQemu by the fence watchdog when the tick is stuck on a blocked QMP.
            $stop = Get-GuardDecision -LogPath "$($pair.Dir)/A.guard.log" -Action StopVm, KillQemu -After $fault
            $stop | Should -Not -BeNullOrEmpty -Because 'A self-fences'
            $stop.Reason | Should -Match 'cut off'
            # A fenced itself before B claimed (the watchdog stamps its kill when decided; B's claim is logged once committed).
            $claim = Get-GuardDecision -LogPath "$($pair.Dir)/B.guard.log" -Action Claim -After $fault
            $f.SelfFenceSeconds = [math]::Round(([DateTimeOffset]$stop.Time - $fault).TotalSeconds, 2)
            $f.ClaimSeconds = [math]::Round(([DateTimeOffset]$claim.Time - $fault).TotalSeconds, 2)
            $f.SelfFenceSeconds | Should -BeLessThan $f.ClaimSeconds
            $w.A.Status | Should -Not -Be 'running'
            $f.TwoPrimarySamples | Should -Be 0
            # Bounded by the lease: not before it can expire, not much after (issue goal TTL + 0.5 s; TCG on a shared host here).
            $f.FaultToTakeoverSeconds | Should -BeGreaterThan ($ttl * 0.75 - 0.1)
            $f.FaultToTakeoverSeconds | Should -BeLessThan ($ttl + 3)
        }
    }

    It 'site A lost, its QEMU and guard frozen (SIGSTOP): B fences it with the hook and takes over' -Tag 'GuardFence' {
        # The hook is the test's power switch for the lost site: it kills what the namespace holds.
        $hook = "for p in `$(ip netns pids $($net.A)); do kill -KILL `$p; done"
        Invoke-SiteCase -Case SiteFrozen -Name gsf -PortBase 25300 -Fault Freeze -FencingHook $hook -Check {
            param($pair, $fault, $w, $f)
            $hookRun = Get-GuardDecision -LogPath "$($pair.Dir)/B.guard.log" -Action RunFencingHook -After $fault
            # The hook and the takeover are one decision: its outcomes are the hook's, the failover's and the announcement's.
            $hookRun.Outcomes[0] | Should -Match 'fenced the peer'
            $hookRun.Actions | Should -Be @('RunFencingHook', 'FailOver', 'AnnounceSelf')
            @(& ip netns pids $net.A 2>$null).Count | Should -Be 0 -Because 'the hook powered site A off'
            $f.TwoPrimarySamples | Should -Be 0
            $f.FaultToTakeoverSeconds | Should -BeLessThan ($ttl + 3)
        }
    }

    It 'site A lost, its QEMU and guard killed: B takes over once the lease is gone' {
        Invoke-SiteCase -Case SiteKilled -Name gsk -PortBase 25400 -Fault Kill -Check {
            param($pair, $fault, $w, $f)
            $f.TwoPrimarySamples | Should -Be 0
            # Nobody released A's lease: B waits it out.
            $f.FaultToTakeoverSeconds | Should -BeGreaterThan ($ttl * 0.75 - 0.1)
            $f.FaultToTakeoverSeconds | Should -BeLessThan ($ttl + 3)
            (Get-ColoGuardStatus $pair.Config B).WitnessEpoch | Should -Be 2
        }
    }
}
