# The guards' promise with the proof's real guest (tests/guest): a client keeps writing numbered
# records while the primary QEMU of each side is killed in turn, and the guards alone fail over and
# re-protect (Witness.Reprotect, an etcd witness in the namespace). Every write the client had
# acknowledged must be on the survivor's disk; both QEMUs are sampled every 100 ms and no sample may
# show two primaries. Runs tests/guest/Invoke-ColoProof.ps1 -Scenario Guarded in its own namespace.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    $script:SkipReason = Test-ProofPrerequisite
    if (-not $SkipReason -and -not (Get-Command etcd -ErrorAction Ignore)) { $script:SkipReason = 'the guards need etcd' }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    $suite = Initialize-ProofSuite
    $script:Results = $suite.Results
    $script:Guest = $suite.Guest
    $script:GuestError = $suite.Error
}

Describe 'Guards keep every acknowledged write across 10 automatic failovers with re-protection' -Tag 'Guard', 'E2E', 'Proof' -Skip:([bool]$SkipReason) {
    BeforeAll {
        $ns = "colops-guard-$PID"
        $tmp = New-TestDirectory
        if (-not $GuestError) { New-ProofNetwork -Namespace $ns }
    }
    AfterAll {
        Remove-ProofNetwork -Namespace $ns
        Remove-TestDirectory $tmp
    }

    It 'kills the primary QEMU of each side in turn, 10 times; the guards fail over and re-protect: 0 acknowledged writes lost, never two primaries' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $r = Invoke-ColoProofRun -Namespace $ns -Scenario Guarded -Failovers 10 -PortBase 24900 -WorkDirectory "$tmp/w" -ResultPath (Join-Path $Results 'guard-proof.json')
        if (-not $r.passed) { Write-Host (Get-Content $r.LogPath -Raw) }
        foreach ($c in $r.cycles) {
            Write-Host ("guarded failover {0}: {1} killed; {2} alone after {3} s; next acknowledged write {4} s after the kill; protected again after {5} s; lost {6} of {7}; {8} samples, {9} with two primaries" -f
                $c.failover, $c.lost, $c.survivor, $c.failoverSeconds, $c.killToNextAckSeconds, $c.reprotectedSeconds, $c.check.lost, $c.check.acknowledged, $c.samples, $c.twoPrimarySamples)
        }
        Write-Host ("guarded proof: acknowledged {0}, lost {1}, failovers {2}, {3} s" -f $r.acknowledged, $r.lost, $r.failovers, $r.durationSeconds)
        $r.error | Should -BeNullOrEmpty
        $r.passed | Should -BeTrue
        $r.ExitCode | Should -Be 0
        $r.acknowledged | Should -BeGreaterThan 0
        $r.lost | Should -Be 0
        $r.failovers | Should -Be 10
        $r.onlineChecks | Should -Be 10
        $r.onlineCheckFailures | Should -Be 0
        @($r.cycles.lost) | Should -Be @('A', 'B', 'A', 'B', 'A', 'B', 'A', 'B', 'A', 'B')
        @($r.cycles | Where-Object { $_.check.lost -ne 0 }) | Should -BeNullOrEmpty
        $r.offlineCheck.checked | Should -Be $r.acknowledged
        $r.offlineCheck.missing | Should -Be 0
        $r.offlineCheckSecondary.missing | Should -Be 0
        $r.qemuLeftRunning | Should -Be 0
        # Each guard logged its own StartSecondary and Reprotect five times (it lost the primary five times, and survived five).
        foreach ($site in 'A', 'B') {
            $log = Get-Content (Join-Path $Results "guard-proof.json.guard-$site.log") | ConvertFrom-Json
            @($log | Where-Object { $_.Actions -contains 'StartSecondary' }).Count | Should -Be 5
            @($log | Where-Object { $_.Actions -contains 'Reprotect' }).Count | Should -Be 5
        }
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}
