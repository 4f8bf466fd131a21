# Automatic re-protection, guard restarts and the stale side, on real QEMU 11 pairs (guest-less) on
# loopback with a real etcd on 127.0.0.3. The guards do everything; the test only kills things and
# samples both QEMUs every 100 ms over their watch monitors (Watch-Pair throws at a sample with two
# primaries). The guards' decision logs are kept in out/TestResults/guard-reprotect.

BeforeDiscovery {
    $script:Ready = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command etcd -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'GuardHelpers.psm1') -Force
    Import-ColoPSUnderTest
    $script:tmp = New-TestDirectory
    $script:etcd = Start-TestEtcd -Directory $tmp -Port 24970
    $script:results = Join-Path $PSScriptRoot '../../out/TestResults/guard-reprotect'
    $null = New-Item -ItemType Directory -Force -Path $results
    $script:figures = [System.Collections.Generic.List[object]]::new()

    function New-ReprotectPair {
        param([string] $Name, [int] $PortBase)
        $dir = Join-Path $tmp $Name
        $null = New-Item -ItemType Directory $dir
        $cfg = New-TestColoConfig -Directory $dir -PortBase $PortBase -Name $Name -Extra @{ WitnessEndpoint = $etcd.Url; WitnessPair = "$Name-$(Get-Random)" }
        $cfg.Witness.Reprotect = $true
        $path = "$dir/$Name.colo.json"
        $cfg | Export-ColoConfig -Path $path
        $null = Start-ColoSecondary -Config $cfg -Site B
        $null = Start-ColoPrimary -Config $cfg -Site A
        # The guards need QEMU's main monitor, which serves one client.
        Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$dir*" } | Disconnect-QmpSession -Confirm:$false
        $pair = [pscustomobject]@{ Config = $cfg; Path = $path; Dir = $dir; Guards = @{}; Logs = [System.Collections.Generic.List[string]]::new(); Sessions = @{} }
        $null = Start-PairGuard $pair A
        $null = Start-PairGuard $pair B
        $pair
    }

    function Start-PairGuard {
        # Each start of a site's guard logs to its own file, so a restarted guard's decisions can be read alone.
        param($Pair, [string] $Site, [hashtable] $Environment = @{})
        $log = "$($Pair.Dir)/$Site.guard.$($Pair.Logs.Count).log"
        $Pair.Logs.Add($log)
        $Pair.Guards[$Site] = Start-TestGuard -ConfigPath $Pair.Path -Site $Site -LogPath $log -Environment $Environment
        $log
    }

    function Get-QemuPid {
        param($Pair, [string] $Site)
        [int](Get-Content -Raw $Pair.Config.PidFileOf($Site)).Trim()
    }

    function Wait-Protected {
        # The primary is in COLO at $Primary, the other site's QEMU is its secondary, and both guards report.
        param($Pair, [string] $Primary, [int] $TimeoutSec = 60)
        $secondary = if ($Primary -eq 'A') { 'B' } else { 'A' }
        $w = Watch-Pair -Config $Pair.Config -Sessions $Pair.Sessions -TimeoutSec $TimeoutSec -Until {
            param($a, $b)
            $p = if ($Primary -eq 'A') { $a } else { $b }; $s = if ($Primary -eq 'A') { $b } else { $a }
            if (-not ($p -and $s -and $p.Mode -eq 'primary' -and $s.Mode -eq 'secondary')) { return $false }
            $st = Get-ColoGuardStatus -Config $Pair.Config
            ($st | Where-Object State -eq 'Running').Count -eq 2 -and ($st | Where-Object Site -eq $Primary).Own -eq 'ProtectedPrimary' -and
                ($st | Where-Object Site -eq $secondary).Own -eq 'ProtectedSecondary' -and
                # The secondary's guard knows the epoch it is protected in (a guard that never saw it would be stale).
                ($st | Where-Object Site -eq $secondary).MyEpoch -ge 1 -and ($st | Where-Object Site -eq $secondary).MyEpoch -eq ($st | Where-Object Site -eq $Primary).MyEpoch
        }
        $w.Seconds | Should -Not -BeNullOrEmpty -Because "the pair is protected with $Primary primary (A: $((Get-ColoGuardStatus $Pair.Config A).Reason); B: $((Get-ColoGuardStatus $Pair.Config B).Reason))"
        $w
    }

    function Read-GuardLog {
        param([string[]] $Path)
        $Path | ForEach-Object { Get-Content $_ -ErrorAction Ignore } | ConvertFrom-Json
    }

    function Remove-ReprotectPair {
        param($Pair)
        if (-not $Pair) { return }
        $Pair.Guards.Values | ForEach-Object { Stop-TestProcess $_ }
        $Pair.Sessions.Values | Where-Object { $_ } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
        Stop-QemuUnder -Directory $Pair.Dir
        $Pair.Logs | Where-Object { Test-Path $_ } | ForEach-Object { Copy-Item $_ (Join-Path $results "$(Split-Path $Pair.Dir -Leaf)-$(Split-Path $_ -Leaf)") }
    }
}

AfterAll {
    Stop-TestProcess $etcd.Process
    Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$tmp*" } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    Remove-TestDirectory -Directory $tmp
    if ($figures.Count) {
        $figures | ConvertTo-Json -Depth 4 | Set-Content (Join-Path $results 'figures.json')
        $figures | Format-Table | Out-String | Write-Host
    }
}

Describe 'Start-ColoGuard with Witness.Reprotect' -Tag 'Guard' -Skip:(-not $Ready) {
    It 'fails over and re-protects ten times in a row, killing the primary of each side in turn' {
        $pair = New-ReprotectPair -Name gr -PortBase 24400
        try {
            $null = Wait-Protected $pair 'A'
            $primary = 'A'
            # MyEpoch: a record's WitnessEpoch is the read before that tick's claim.
            $epoch = (Get-ColoGuardStatus $pair.Config A).MyEpoch
            for ($n = 1; $n -le 10; $n++) {
                $survivor = if ($primary -eq 'A') { 'B' } else { 'A' }
                $samples = 0
                $clock = [System.Diagnostics.Stopwatch]::StartNew()
                Stop-Process -Id (Get-QemuPid $pair $primary) -Force
                $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 30 -Until {
                    param($a, $b)
                    $s = if ($survivor -eq 'A') { $a } else { $b }
                    $s -and $s.Mode -eq 'none' -and $s.Status -eq 'running'
                }
                $samples += $w.Samples
                $w.Seconds | Should -Not -BeNullOrEmpty -Because "failover $n`: $survivor takes over ($((Get-ColoGuardStatus $pair.Config $survivor).Reason))"
                $takeover = $clock.Elapsed.TotalSeconds
                $w = Wait-Protected $pair $survivor -TimeoutSec 90
                $samples += $w.Samples
                $figures.Add([pscustomobject]@{
                        Case = "failover $n"; Killed = "$primary primary"; KillToTakeoverSeconds = [math]::Round($takeover, 2)
                        KillToReprotectedSeconds = [math]::Round($clock.Elapsed.TotalSeconds, 2); Samples = $samples; TwoPrimarySamples = 0
                    })
                # Two epochs per round: the takeover's claim and the claim naming the new secondary.
                $now = (Get-ColoGuardStatus $pair.Config $survivor).MyEpoch
                $now | Should -Be ($epoch + 2) -Because "failover $n moved the pair by a takeover and a resume"
                $epoch = $now
                $primary = $survivor
            }
            $log = Read-GuardLog $pair.Logs
            @($log | Where-Object { $_.Actions -contains 'StartSecondary' }).Count | Should -Be 10
            @($log | Where-Object { $_.Actions -contains 'Reprotect' }).Count | Should -Be 10
            ($log | Where-Object { $_.Actions -contains 'Reprotect' }).Outcomes | Should -Not -Match 'failed:'
            ($log | Where-Object { $_.Actions -contains 'StartSecondary' }).Outcomes | Should -Not -Match 'failed:'
            @($log | Where-Object { $_.Actions -contains 'StopVm' -or $_.Actions -contains 'KillQemu' }).Count | Should -Be 0 -Because 'no side had to fence itself'
        }
        finally { Remove-ReprotectPair $pair }
    }

    It 'a guard killed and restarted while protected reattaches and does nothing rash' {
        $pair = New-ReprotectPair -Name gk -PortBase 24500
        try {
            $null = Wait-Protected $pair 'A'
            # MyEpoch: the last record's WitnessEpoch is the read before that tick's claim.
            $epoch = (Get-ColoGuardStatus $pair.Config A).MyEpoch
            # The primary's guard killed and restarted at once (within the lease's TTL): it goes on with its lease.
            Stop-TestProcess $pair.Guards.A
            $restartedA = Start-PairGuard $pair A
            # The secondary's guard killed and left down past the TTL, then restarted.
            Stop-TestProcess $pair.Guards.B
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 4 -Until { param($a, $b) $a.Mode -ne 'primary' -or $b.Mode -ne 'secondary' }
            $w.Seconds | Should -BeNullOrEmpty -Because "the pair stays in COLO while B's guard is down (A: $($w.A.Mode)/$($w.A.Status), B: $($w.B.Mode)/$($w.B.Status))"
            $restartedB = Start-PairGuard $pair B
            $null = Wait-Protected $pair 'A' -TimeoutSec 30
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 4 -Until { param($a, $b) $a.Mode -ne 'primary' -or $b.Mode -ne 'secondary' }
            $w.Seconds | Should -BeNullOrEmpty -Because 'the restarted guards leave the pair in COLO'
            $log = Read-GuardLog $restartedA, $restartedB
            $rash = @($log | Where-Object { $_.Actions | Where-Object { $_ -in 'FailOver', 'StopVm', 'KillQemu', 'StartSecondary', 'Reprotect', 'RunFencingHook' } })
            $rash | Should -BeNullOrEmpty -Because "the restarted guards only look ($($rash.Reason -join '; '))"
            $st = Get-ColoGuardStatus $pair.Config A
            $st.MyEpoch | Should -Be $st.WitnessEpoch
            # At most one claim keeping the roles (the primary's, when its lease ran out with its guard).
            $st.WitnessEpoch | Should -BeLessOrEqual ($epoch + 1)
            $figures.Add([pscustomobject]@{ Case = 'guards restarted while protected'; Killed = 'guard A (restarted at once), guard B (4 s)'; KillToTakeoverSeconds = $null; KillToReprotectedSeconds = $null; Samples = $w.Samples; TwoPrimarySamples = 0 })
        }
        finally { Remove-ReprotectPair $pair }
    }

    It 'the survivor''s guard killed right after its takeover claim: the restarted guard finishes the takeover and keeps the VM, never two primaries' {
        $pair = New-ReprotectPair -Name gf -PortBase 24600
        try {
            $null = Wait-Protected $pair 'A'
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $logB = $pair.Logs | Where-Object { $_ -like '*B.guard.*' } | Select-Object -Last 1
            Stop-Process -Id (Get-QemuPid $pair A) -Force
            # The claim is logged when it committed; fencing and failing over come on the next ticks.
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 30 -Until { @(Read-GuardLog $logB | Where-Object { $_.Actions -contains 'Claim' }).Count -gt 0 }
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "B's takeover claim is logged"
            Stop-TestProcess $pair.Guards.B
            $samples = $w.Samples
            # Past the lease's TTL: the restarted guard finds the owner key gone and A's fresh secondary running.
            $samples += (Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 3 -Until { $false }).Samples
            $restarted = Start-PairGuard $pair B
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 90 -Until {
                param($a, $b)
                $a -and $b -and $b.Mode -eq 'primary' -and $a.Mode -eq 'secondary' -and (Get-ColoGuardStatus $pair.Config B).Own -eq 'ProtectedPrimary'
            }
            $samples += $w.Samples
            $log = Read-GuardLog $restarted
            $outcome = if ($null -ne $w.Seconds) { 'protected again' } else { "B $($w.B.Mode)/$($w.B.Status), A $($w.A.Mode)/$($w.A.Status): B: $((Get-ColoGuardStatus $pair.Config B).Reason)" }
            $figures.Add([pscustomobject]@{ Case = "survivor's guard killed after its claim: $outcome"; Killed = 'A primary, then guard B'; KillToTakeoverSeconds = $null; KillToReprotectedSeconds = if ($null -ne $w.Seconds) { [math]::Round($clock.Elapsed.TotalSeconds, 2) }; Samples = $samples; TwoPrimarySamples = 0 })
            # The takeover is finished (by the killed guard or the restarted one): B serves, and A never ran the VM.
            $w.B.Mode | Should -BeIn @('none', 'primary') -Because $outcome
            $w.B.Status | Should -Be 'running' -Because $outcome
            ($w.A -and $w.A.Mode -eq 'none' -and $w.A.Status -eq 'running') | Should -BeFalse -Because "A never runs the VM alone ($outcome)"
            @($log | Where-Object { $_.Actions -contains 'StopVm' -or $_.Actions -contains 'KillQemu' }) | Should -BeNullOrEmpty -Because 'the restarted guard keeps the VM it finds running'
        }
        finally { Remove-ReprotectPair $pair }
    }

    It 'the survivor''s guard killed inside its failover, half way through the chardev steps: the restarted guard finishes them and the pair ends protected' -Tag 'GuardCrash' {
        $pair = New-ReprotectPair -Name gx -PortBase 24650
        try {
            $null = Wait-Protected $pair 'A'
            # B's guard again, with the crash seam: it kills itself (SIGKILL) before the 8th step of its
            # secondary failover, after the secondary's filters and one of its chardevs are gone.
            Stop-TestProcess $pair.Guards.B
            $dying = Start-PairGuard $pair B -Environment @{ COLOPS_TEST_GUARD_DIE_AT = 'Secondary failover:8' }
            $null = Wait-Protected $pair 'A' -TimeoutSec 30
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            Stop-Process -Id (Get-QemuPid $pair A) -Force
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 30 -Until { $pair.Guards.B.HasExited }
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "B's guard dies inside its failover ($((Get-ColoGuardStatus $pair.Config B).Reason))"
            $samples = $w.Samples
            # What it left: B runs out of COLO with the chardev swap half done.
            $left = (Invoke-QmpCommand -Session $pair.Sessions.B -Command query-chardev).label
            $w.B.Mode | Should -Be 'none'
            $left | Should -Not -Contain 'red1' -Because 'the steps before the crash ran'
            $left | Should -Not -Contain 'mirror0' -Because 'the guard died before the primary''s chardevs were made'
            (Invoke-QmpCommand -Session $pair.Sessions.B -Command qom-list -Arguments @{ path = '/objects' }).name | Should -Not -Contain 'f2'
            $restarted = Start-PairGuard $pair B
            $w = Wait-Protected $pair 'B' -TimeoutSec 90
            $samples += $w.Samples
            $log = Read-GuardLog $restarted
            $resume = @($log | Where-Object { $_.Actions -contains 'Reprotect' })
            $resume | Should -Not -BeNullOrEmpty -Because 'the restarted guard re-protects'
            $resume.Outcomes | Should -Not -Match 'failed:'
            $chardevs = (Invoke-QmpCommand -Session $pair.Sessions.B -Command query-chardev).label
            foreach ($c in 'mirror0', 'compare1', 'compare0', 'compare0-0', 'compare_out', 'compare_out0') { $chardevs | Should -Contain $c }
            $chardevs | Should -Not -Contain 'red0'
            @($log | Where-Object { $_.Actions -contains 'StopVm' -or $_.Actions -contains 'KillQemu' }) | Should -BeNullOrEmpty -Because 'the restarted guard keeps the VM it finds running'
            $figures.Add([pscustomobject]@{ Case = "survivor's guard killed at step 8 of its failover: protected again"; Killed = 'A primary, then guard B (crash seam)'; KillToTakeoverSeconds = $null; KillToReprotectedSeconds = [math]::Round($clock.Elapsed.TotalSeconds, 2); Samples = $samples; TwoPrimarySamples = 0 })
        }
        finally { Remove-ReprotectPair $pair }
    }

    It 'the survivor''s guard killed while it re-protects: never two primaries, and the pair ends protected (or, killed between the resume''s stop and its migration, the VM stays paused)' -Tag 'GuardRestart' {
        $pair = New-ReprotectPair -Name gm -PortBase 24700
        try {
            $null = Wait-Protected $pair 'A'
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $logA = $pair.Logs | Where-Object { $_ -like '*A.guard.*' } | Select-Object -Last 1
            Stop-Process -Id (Get-QemuPid $pair A) -Force
            # A's new secondary is announced: B is claiming for it or resuming to it.
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 30 -Until { @(Read-GuardLog $logA | Where-Object { $_.Actions -contains 'StartSecondary' }).Count -gt 0 }
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "A's guard started a new secondary"
            Stop-TestProcess $pair.Guards.B
            $samples = $w.Samples
            $samples += (Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 3 -Until { $false }).Samples
            $null = Start-PairGuard $pair B
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 90 -Until {
                param($a, $b)
                $a -and $b -and $b.Mode -eq 'primary' -and $a.Mode -eq 'secondary' -and (Get-ColoGuardStatus $pair.Config B).Own -eq 'ProtectedPrimary'
            }
            $samples += $w.Samples
            $outcome = if ($null -ne $w.Seconds) { 'protected again' } else { "B $($w.B.Mode)/$($w.B.Status), A $($w.A.Mode)/$($w.A.Status): B: $((Get-ColoGuardStatus $pair.Config B).Reason); A: $((Get-ColoGuardStatus $pair.Config A).Reason)" }
            $figures.Add([pscustomobject]@{ Case = "survivor's guard killed while re-protecting: $outcome"; Killed = 'A primary, then guard B'; KillToTakeoverSeconds = $null; KillToReprotectedSeconds = if ($null -ne $w.Seconds) { [math]::Round($clock.Elapsed.TotalSeconds, 2) }; Samples = $samples; TwoPrimarySamples = 0 })
            if ($null -eq $w.Seconds) {
                # Killed before the resume stopped the VM, and its lease ran out meanwhile: the restarted
                # guard claims its own epoch again without the secondary it had named; A's guard replaces
                # that stale waiting secondary by a fresh one for the new epoch, so B is re-protected. A
                # survivor left running unprotected is a failure.
                $w.B.Status | Should -Not -Be 'running' -Because "a survivor that runs is re-protected ($outcome)"
                # Killed between the resume's stop and its migration: the VM stays paused, which sends nothing.
                $w.B.Mode | Should -Be 'none' -Because $outcome
                ($w.A -and $w.A.Mode -eq 'none' -and $w.A.Status -eq 'running') | Should -BeFalse -Because "A never ran the VM alone ($outcome)"
            }
            else {
                $replaced = @(Read-GuardLog ($pair.Logs | Where-Object { $_ -like '*A.guard.*' }) | Where-Object { $_.Reason -match 'stale waiting secondary' })
                Write-Host "gm: protected again; A replaced a stale waiting secondary $($replaced.Count) time(s)"
            }
        }
        finally { Remove-ReprotectPair $pair }
    }

    It 'the secondary left behind by a primary failover never takes over, even when its peer then dies' {
        $pair = New-ReprotectPair -Name gt -PortBase 24800
        try {
            $null = Wait-Protected $pair 'A'
            # Cut the replication link from the primary's side (its watch monitor): COLO ends with an
            # error on both sides while both VMs live; A's guard fails over, and B is left behind.
            # (Watch-Pair holds that monitor's only session.)
            $null = Invoke-QmpCommand -Session $pair.Sessions.A -Command yank -Arguments @{ instances = @(@{ type = 'migration' }) }
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 30 -Until { param($a, $b) $a -and $a.Mode -eq 'none' -and $a.Status -eq 'running' }
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "A's guard fails over ($((Get-ColoGuardStatus $pair.Config A).Reason))"
            $samples = $w.Samples
            $w.B | Should -Not -BeNullOrEmpty -Because "B's QEMU is still alive, left behind"
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 20 -Until { (Get-ColoGuardStatus $pair.Config B).Reason -match 'stale' }
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "B's guard sees it is stale ($((Get-ColoGuardStatus $pair.Config B).Reason))"
            # Now the survivor dies: the stale B must not take over, well past the lease's TTL.
            Stop-Process -Id (Get-QemuPid $pair A) -Force
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 8 -Until { param($a, $b) $b -and $b.Mode -eq 'none' -and $b.Status -eq 'running' }
            $samples += $w.Samples
            $w.Seconds | Should -BeNullOrEmpty -Because 'a stale secondary never runs the VM'
            $log = Read-GuardLog ($pair.Logs | Where-Object { $_ -like '*B.guard.*' })
            @($log | Where-Object { $_.Actions | Where-Object { $_ -in 'Claim', 'FailOver', 'AnnounceSelf', 'RunFencingHook', 'StartSecondary' } }) | Should -BeNullOrEmpty
            (Get-ColoGuardStatus $pair.Config B).Reason | Should -Match 'stale'
            (Get-ColoGuardStatus $pair.Config B).Warning | Should -BeTrue
            $figures.Add([pscustomobject]@{ Case = 'stale secondary, then its peer killed'; Killed = 'link A-B (yank), then A'; KillToTakeoverSeconds = $null; KillToReprotectedSeconds = $null; Samples = $samples; TwoPrimarySamples = 0 })
        }
        finally { Remove-ReprotectPair $pair }
    }
}
