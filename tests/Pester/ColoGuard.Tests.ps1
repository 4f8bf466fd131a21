# The guard against real QEMU 11 pairs (guest-less) on loopback, with a real etcd the suite starts on
# 127.0.0.3. Each guard is its own pwsh process. Both QEMUs are sampled every 100 ms over their watch
# monitors throughout; at no sample may both run out of COLO.

BeforeDiscovery {
    $script:Ready = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command etcd -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'GuardHelpers.psm1') -Force
    Import-ColoPSUnderTest
    $script:tmp = New-TestDirectory
    $script:etcd = Start-TestEtcd -Directory $tmp -Port (23790 + (Get-Random -Maximum 100) * 2)
    $script:timings = [ordered]@{}

    function New-GuardedPair {
        param([string] $Name, [int] $PortBase)
        $dir = Join-Path $tmp $Name
        $null = New-Item -ItemType Directory $dir
        $cfg = New-TestColoConfig -Directory $dir -PortBase $PortBase -Name $Name -Extra @{ WitnessEndpoint = $etcd.Url; WitnessPair = "$Name-$(Get-Random)" }
        $path = "$dir/$Name.colo.json"
        $cfg | Export-ColoConfig -Path $path
        $b = Start-ColoSecondary -Config $cfg -Site B
        $a = Start-ColoPrimary -Config $cfg -Site A
        # The guards need QEMU's main monitor, which serves one client.
        Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$dir*" } | Disconnect-QmpSession -Confirm:$false
        $ga = Start-TestGuard -ConfigPath $path -Site A -LogPath "$dir/A.guard.log"
        $gb = Start-TestGuard -ConfigPath $path -Site B -LogPath "$dir/B.guard.log"
        [pscustomobject]@{ Config = $cfg; Path = $path; Dir = $dir; A = $a; B = $b; GuardA = $ga; GuardB = $gb; Sessions = @{} }
    }

    function Wait-Guarded {
        # Both guards have looked and the primary owns epoch 1.
        param($Pair)
        $w = Watch-Pair -Config $Pair.Config -Sessions $Pair.Sessions -TimeoutSec 30 -Until {
            $s = Get-ColoGuardStatus -Config $Pair.Config
            ($s | Where-Object State -eq 'Running').Count -eq 2 -and $s[0].Own -eq 'ProtectedPrimary' -and $s[0].MyEpoch -ge 1 -and $s[1].MyEpoch -ge 1
        }
        $w.Seconds | Should -Not -BeNullOrEmpty -Because "both guards report (A: $((Get-ColoGuardStatus $Pair.Config A).Reason); B: $((Get-ColoGuardStatus $Pair.Config B).Reason))"
    }

    function Wait-GuardLog {
        param([string] $Path, [string] $Action)
        $deadline = [DateTime]::UtcNow.AddSeconds(5)
        do {
            $log = Get-Content $Path -ErrorAction Ignore | ConvertFrom-Json
            if ($log.Actions -contains $Action) { break }
            Start-Sleep -Milliseconds 100
        } while ([DateTime]::UtcNow -lt $deadline)
        $log.Actions | Should -Contain $Action
        $log
    }

    function Remove-GuardedPair {
        param($Pair)
        if (-not $Pair) { return }
        Stop-TestProcess $Pair.GuardA; Stop-TestProcess $Pair.GuardB
        $Pair.Sessions.Values | Where-Object { $_ } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
        Stop-QemuUnder -Directory $Pair.Dir
    }
}

AfterAll {
    Stop-TestProcess $etcd.Process
    Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$tmp*" } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    Remove-TestDirectory -Directory $tmp
    $timings | ConvertTo-Json | Write-Host
}

Describe 'Start-ColoGuard' -Tag 'Guard' -Skip:(-not $Ready) {
    It 'B takes over by itself when the primary QEMU is killed' {
        $pair = New-GuardedPair -Name ga -PortBase 24100
        try {
            Wait-Guarded $pair
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            Stop-Process -Id $pair.A.ProcessId -Force
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 20 -Until { param($a, $b) $b -and $b.Mode -eq 'none' -and $b.Status -eq 'running' }
            $timings.PrimaryKilledToTakeoverSeconds = [math]::Round($clock.Elapsed.TotalSeconds, 2)
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "B's guard takes over ($((Get-ColoGuardStatus $pair.Config B).Reason))"
            # The decision is logged once its actions are done, a moment after QEMU shows their effect.
            $log = Wait-GuardLog "$($pair.Dir)/B.guard.log" 'AnnounceSelf'
            $log.Actions | Should -Contain 'FailOver'
            ($log | Where-Object { $_.Actions -contains 'FailOver' }).Outcomes | Should -Not -Match 'failed:'
            (Get-ColoGuardStatus $pair.Config B).WitnessEpoch | Should -Be 2
        }
        finally { Remove-GuardedPair $pair }
    }

    It 'A drops replication by itself when the secondary QEMU is killed' {
        $pair = New-GuardedPair -Name gb -PortBase 24200
        try {
            Wait-Guarded $pair
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            Stop-Process -Id $pair.B.ProcessId -Force
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 20 -Until { param($a, $b) $a -and $a.Mode -eq 'none' -and $a.Status -eq 'running' -and -not $b }
            $timings.SecondaryKilledToStandaloneSeconds = [math]::Round($clock.Elapsed.TotalSeconds, 2)
            $w.Seconds | Should -Not -BeNullOrEmpty -Because "A's guard fails over ($((Get-ColoGuardStatus $pair.Config A).Reason))"
            $log = Wait-GuardLog "$($pair.Dir)/A.guard.log" 'FailOver'
            ($log | Where-Object { $_.Actions -contains 'FailOver' }).Reason | Should -Match 'primary failover'
        }
        finally { Remove-GuardedPair $pair }
    }

    It 'keeps the pair protected and fails nothing over while the witness is down (runs last: it stops etcd)' {
        $pair = New-GuardedPair -Name gc -PortBase 24300
        try {
            Wait-Guarded $pair
            Stop-TestProcess $etcd.Process
            # Past the lease TTL (2 s) and the fence margin: nobody may stop or fail over.
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 5 -Until { param($a, $b) $a.Mode -ne 'primary' -or $b.Mode -ne 'secondary' }
            $w.Seconds | Should -BeNullOrEmpty -Because "the pair stays in COLO (A: $($w.A.Mode)/$($w.A.Status), B: $($w.B.Mode)/$($w.B.Status))"
            $w.A.Status | Should -BeIn @('running', 'colo')
            $st = Get-ColoGuardStatus $pair.Config A
            $st.Witness | Should -Be 'Unreachable'
            $st.Warning | Should -BeTrue
            $st.Reason | Should -Match 'witness unreachable: no automatic failover'
            # Now the primary dies: without the witness, B must not take over.
            Stop-Process -Id $pair.A.ProcessId -Force
            $w = Watch-Pair -Config $pair.Config -Sessions $pair.Sessions -TimeoutSec 4 -Until { param($a, $b) $b -and $b.Mode -eq 'none' -and $b.Status -eq 'running' }
            $w.Seconds | Should -BeNullOrEmpty -Because 'no automatic failover while the witness is unreachable'
            (Get-ColoGuardStatus $pair.Config B).Reason | Should -Match 'witness unreachable'
        }
        finally { Remove-GuardedPair $pair }
    }
}
