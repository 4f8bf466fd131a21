# Issue 10's faults with the proof's real guest and its writing client, in one boot of the guest:
# each site's QEMU and guard in a namespace of its own, joined by one link, etcd in a third
# namespace reached by each site on a link of its own (New-ProofNetwork -SplitSites -Witness). The
# guards fail over and re-protect by themselves after each fault (Witness.Reprotect); the fencing
# hook stops the peer's VM as a cloud API would (kills the QEMUs and whatever is frozen in the
# peer's namespace), and a guard whose process ended is started again, as systemd would. Runs tests/guest/Invoke-ColoProof.ps1 -Scenario GuardedFaults
# (tests/guest/GuardedFaults.ps1). Per fault: acknowledged / lost through the guest, fault to the
# survivor running alone, to the client's next acknowledged write, to protected again, and the
# both-QEMU samples with how many showed two that may send (always 0). Both disks are read offline
# at the end. Figures in out/TestResults/guard-faults.json, the guards' logs beside it.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    $script:SkipReason = Test-ProofPrerequisite
    foreach ($tool in 'etcd', 'curl') { if (-not $SkipReason -and -not (Get-Command $tool -ErrorAction Ignore)) { $script:SkipReason = "the guards' witness needs $tool" } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    $suite = Initialize-ProofSuite
    $script:Results = $suite.Results
    $script:Guest = $suite.Guest
    $script:GuestError = $suite.Error
}

Describe 'Guards through every fault of issue 10, sites and witness in their own namespaces, one boot of the real guest' -Tag 'Guard', 'E2E', 'Proof' -Skip:([bool]$SkipReason) {
    BeforeAll {
        $ns = "colops-gf-$PID"
        $tmp = New-TestDirectory
        if (-not $GuestError) { New-ProofNetwork -Namespace $ns -SplitSites -Witness }
        $r = $null
        if (-not $GuestError) {
            $r = Invoke-ColoProofRun -Namespace $ns -Scenario GuardedFaults -SplitSites -PortBase 26100 -WorkDirectory "$tmp/w" -ResultPath (Join-Path $Results 'guard-faults.json')
            if (-not $r.passed) { Write-Host (Get-Content $r.LogPath -Raw) }
            foreach ($c in $r.faults) {
                Write-Host ("guarded fault '{0}' ({1}): {2} alone after {3} s; next acknowledged write {4} s after the fault; protected again after {5} s; lost {6} of {7}; {8} samples, {9} with two primaries; guards restarted: {10}" -f
                    $c.fault, $c.struck, $(if ($c.survivor) { $c.survivor } else { 'nobody' }), $c.faultToAloneSeconds, $c.faultToNextAckSeconds, $c.reprotectedSeconds, $c.lost, $c.acknowledged,
                    $c.samples, $c.twoPrimarySamples, $(if ($c.guardsRestarted) { $c.guardsRestarted -join ', ' } else { 'none' }))
            }
            Write-Host ("guarded faults: acknowledged {0}, lost {1}, takeovers {2}, {3} s" -f $r.acknowledged, $r.lost, $r.failovers, $r.durationSeconds)
        }
        function Get-Fault([string] $name) {
            $c = @($r.faults | Where-Object fault -eq $name)
            $c.Count | Should -Be 1 -Because "the run went through '$name' ($($r.error))"
            $c[0]
        }
        function Assert-Fault($c, [string] $survivor, [double] $aloneWithin = 30) {
            # What every fault must show: no acknowledged write lost and in order, never two primaries, the
            # client writing again, and the pair protected again; with a takeover, by the expected side.
            $c.lost | Should -Be 0 -Because $c.fault
            $c.inOrder | Should -BeTrue -Because $c.fault
            $c.acknowledged | Should -BeGreaterThan 0
            $c.samples | Should -BeGreaterThan 0 -Because "both QEMUs were sampled during '$($c.fault)'"
            $c.twoPrimarySamples | Should -Be 0 -Because "no sample during '$($c.fault)' may show two QEMUs that can send"
            $c.faultToNextAckSeconds | Should -BeGreaterThan 0
            $c.faultToNextAckSeconds | Should -BeLessThan 60
            $c.reprotectedSeconds | Should -BeGreaterThan 0 -Because "the guards protect the pair again after '$($c.fault)'"
            if ($survivor) {
                $c.survivor | Should -Be $survivor -Because $c.fault
                $c.faultToAloneSeconds | Should -BeGreaterThan 0
                $c.faultToAloneSeconds | Should -BeLessThan $aloneWithin
                $c.reprotectedSeconds | Should -BeGreaterThan $c.faultToAloneSeconds
            }
            else { $c.survivor | Should -BeNullOrEmpty -Because "'$($c.fault)' needs no takeover" }
        }
    }
    AfterAll {
        Remove-ProofNetwork -Namespace $ns
        Remove-TestDirectory $tmp
    }

    It 'the run ends with every acknowledged write on both disks and nothing left running' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $r.error | Should -BeNullOrEmpty
        $r.passed | Should -BeTrue
        $r.ExitCode | Should -Be 0
        $r.acknowledged | Should -BeGreaterThan 0
        $r.lost | Should -Be 0
        $r.onlineCheckFailures | Should -Be 0
        $r.onlineChecks | Should -Be @($r.faults).Count
        $r.offlineCheck.checked | Should -Be $r.acknowledged
        $r.offlineCheck.missing | Should -Be 0
        $r.offlineCheckSecondary.missing | Should -Be 0
        $r.qemuLeftRunning | Should -Be 0
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
        # The guards' decision logs, one per start of a guard, are kept beside the result.
        @($r.guardLogs).Count | Should -BeGreaterOrEqual 2
        foreach ($log in $r.guardLogs) { Test-Path $log | Should -BeTrue -Because "$log is kept" }
    }

    It '1. the secondary''s QEMU killed: the primary drops replication by itself' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'secondary QEMU killed'
        Assert-Fault $c $c.primaryBefore 10
        $c.decisions.failover.reason | Should -Match 'primary'
        $c.decisions.failover.outcomes | Should -Not -Match 'failed:'
    }

    It '2. the link between the sites cut while both reach the witness: the primary keeps the VM, the stale secondary never runs it, and is replaced once the link is back' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'link between the sites cut'
        Assert-Fault $c $c.primaryBefore 15
        $c.decisions.claim.reason | Should -Match 'secondary is silent'
        ($c.notes -join "`n") | Should -Match 'stale'
    }

    It '3. the primary''s site cut off from everything: it fences itself before the other site claims and takes over' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'primary site cut off from everything'
        $other = if ($c.primaryBefore -eq 'A') { 'B' } else { 'A' }
        Assert-Fault $c $other 20
        $c.decisions.selfFence | Should -Not -BeNullOrEmpty -Because 'the cut-off primary stops or kills its VM'
        $c.decisions.selfFence.reason | Should -Match 'cut off|lease is about to expire'
        $c.decisions.claim | Should -Not -BeNullOrEmpty
        $c.decisions.selfFence.seconds | Should -BeLessThan $c.decisions.claim.seconds
        # The hook and the takeover are one decision: its outcomes are the hook's, the failover's and the announcement's.
        $c.decisions.fencingHook.actions | Should -Be @('RunFencingHook', 'FailOver', 'AnnounceSelf')
        $c.decisions.fencingHook.outcomes[0] | Should -Match 'fenced the peer'
        $c.decisions.failover.outcomes | Should -Not -Match 'failed:'
    }

    It '4. the primary''s whole site frozen: the other fences it with the hook and takes over' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'primary site frozen'
        $other = if ($c.primaryBefore -eq 'A') { 'B' } else { 'A' }
        Assert-Fault $c $other 20
        # The hook and the takeover are one decision: its outcomes are the hook's, the failover's and the announcement's.
        $c.decisions.fencingHook.actions | Should -Be @('RunFencingHook', 'FailOver', 'AnnounceSelf')
        $c.decisions.fencingHook.outcomes[0] | Should -Match 'fenced the peer'
        ($c.notes -join "`n") | Should -Match 'processes left at . after the takeover: 0'
        # Nobody renewed the frozen owner's lease: the claim waits it out.
        $c.decisions.claim.seconds | Should -BeGreaterThan 1
        $c.guardsRestarted | Should -Contain $c.primaryBefore
    }

    It '5. the primary''s whole site killed, guard included: the other takes over once the lease is gone, the restarted guard re-protects' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'primary site killed'
        $other = if ($c.primaryBefore -eq 'A') { 'B' } else { 'A' }
        Assert-Fault $c $other 20
        $c.decisions.claim.seconds | Should -BeGreaterThan 1
        $c.decisions.failover.outcomes | Should -Not -Match 'failed:'
        $c.guardsRestarted | Should -Contain $c.primaryBefore
    }

    It '6. the witness down for some seconds: no failover and protection continues; once back, a killed primary is taken over automatically' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'witness down'
        Assert-Fault $c $null
        ($c.notes -join "`n") | Should -Match 'acknowledged while the witness was down: [1-9]'
        @($c.decisions.witnessUnreachable | Where-Object witness -eq 'Unreachable').Count | Should -Be 2
        @($c.decisions.witnessUnreachable | Where-Object reason -match 'witness unreachable').Count | Should -Be 2
        $k = Get-Fault 'primary QEMU killed after the witness came back'
        $other = if ($k.primaryBefore -eq 'A') { 'B' } else { 'A' }
        Assert-Fault $k $other 10
        $k.decisions.failover.outcomes | Should -Not -Match 'failed:'
    }

    It '7a. each guard killed and restarted while protected, the other running: the pair stays in COLO and the restarted guards only look' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $c = Get-Fault 'guards killed and restarted while protected'
        Assert-Fault $c $null
        ($c.notes -join "`n") | Should -Match 'the pair left COLO: never'
        $c.decisions.rash | Should -BeNullOrEmpty
    }

    It '7b. the survivor''s guard killed during its takeover (after its claim): the restarted guard finishes it and the pair is protected again' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        # Killed inside FailOver it hits the known half-done FailOver (tests/guest/GuardedFaults.ps1, 7b).
        $c = Get-Fault 'survivor''s guard killed during its takeover'
        $other = if ($c.primaryBefore -eq 'A') { 'B' } else { 'A' }
        Assert-Fault $c $other 90
        $c.decisions.failover.outcomes | Should -Not -Match 'failed:'
    }
}
