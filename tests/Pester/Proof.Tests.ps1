# COLO's promise with a real guest (tests/guest): a client keeps writing numbered records while
# sides of the pair die; every write the client had acknowledged must be on the survivor's disk,
# read through the survivor guest after each failover and offline at the end.
# Each Describe makes its own network namespace (bridge + one tap per site) and runs
# tests/guest/Invoke-ColoProof.ps1 inside it; the namespace and every QEMU go away afterwards.
# The guest diverges as real guests do (answers with random bytes and its uptime, TCP timestamps,
# IPv6, ARP, a ping of its own) and the pair checkpoints every second at the latest, so every run
# goes through checkpoints (needs QEMU 11 under TCG; 7.2 deadlocks at the first one) and fails
# when none happened or when a primary stays stopped in one.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    $script:ProofSkipReason = Test-ProofPrerequisite
    # Outcome: what the cmdlet hit by the fault must report (the proof records it as fault.outcome).
    # A secondary killed while it starts fails the start at whichever step was under way: the launch,
    # the QMP connect or greeting, or a preparation step.
    $script:FaultCases = @(
        @{ Scenario = 'FirstStartSecondaryKilled'; Port = 51740; Outcome = '^failed: ColoMigrationFailed,'; Title = 'secondary killed during the first migration: the start fails, nothing is left running, both disks are unchanged, a second start protects and serves' }
        @{ Scenario = 'FirstStartPrimaryKilled'; Port = 51750; Outcome = '^failed: QmpSessionDisconnected,'; Title = 'primary killed during the first migration: the start fails, nothing is left running, both disks are unchanged, a second start protects and serves' }
        @{ Scenario = 'SecondaryKilledStarting'; Port = 51700; Outcome = '^failed: (QemuStartFailed|QmpConnectFailed|QmpGreetingFailed|QmpSessionDisconnected|ColoStepFailed),'; Title = 'secondary killed while it starts (re-protection after a failover): the start fails, the survivor keeps serving, a resume protects it' }
        @{ Scenario = 'PrimaryKilledStarting'; Port = 51710; Outcome = '^ok$'; Title = 'primary killed while the new secondary starts: the guest cold-started from the killed side''s disk has every acknowledged write' }
        # The guest rewrites 64 MiB of RAM all along, so each checkpoint has that much to copy and lasts
        # long enough for the kill, sent at the primary's STOP, to land before its RESUME.
        @{ Scenario = 'PrimaryKilledDuringCheckpoint'; Port = 51760; Outcome = '^ok$'; DirtyMiB = 64; Title = 'primary killed during a checkpoint (STOP seen, RESUME not yet): the secondary takes over with every acknowledged write, a resume protects it' }
        @{ Scenario = 'SecondaryKilledDuringCheckpoint'; Port = 51770; Outcome = '^ok$'; DirtyMiB = 64; Title = 'secondary killed during a checkpoint (STOP seen, RESUME not yet): the primary drops replication and keeps serving, a resume protects it' }
        @{ Scenario = 'SecondaryKilled'; Port = 51100; Outcome = $null; Title = 'secondary killed while protected and idle: the primary drops replication and keeps serving' }
        @{ Scenario = 'PrimaryFrozen'; Port = 51200; Outcome = $null; Title = 'primary frozen (SIGSTOP) while protected: the secondary takes over' }
        @{ Scenario = 'SecondaryFrozen'; Port = 51300; Outcome = $null; Title = 'secondary frozen (SIGSTOP) while protected: the primary drops replication and keeps serving' }
        @{ Scenario = 'SecondaryKilledDuringMirror'; Port = 51400; Outcome = '^failed: '; Title = 'secondary killed during resume''s disk mirror: the resume fails, the survivor keeps serving, a new resume protects it' }
        @{ Scenario = 'PrimaryKilledDuringMirror'; Port = 51500; Outcome = '^failed: '; Title = 'primary killed during resume''s disk mirror: the half-synced secondary cannot serve; the guest cold-started from the killed side''s disk has every acknowledged write' }
        @{ Scenario = 'SecondaryKilledDuringMigration'; Port = 51720; Outcome = '^failed: ColoMigrationFailed,'; Title = 'secondary killed during resume''s migration: the resume fails and is rolled back, the survivor reads Unprotected and keeps serving, a new resume protects it' }
        @{ Scenario = 'PrimaryKilledDuringMigration'; Port = 51730; Outcome = '^failed: QmpSessionDisconnected,'; Title = 'primary killed during resume''s migration: the half-loaded secondary cannot serve; the guest cold-started from the killed side''s disk has every acknowledged write' }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SiteHosts.psm1') -Force
    $suite = Initialize-ProofSuite
    $script:Results = $suite.Results
    $script:Guest = $suite.Guest
    $script:GuestError = $suite.Error

    function Assert-ProofResult {
        param($Result, [int] $MinFailovers = 1)
        if (-not $Result.passed) { Write-Host (Get-Content $Result.LogPath -Raw) }
        $Result.error | Should -BeNullOrEmpty
        $Result.passed | Should -BeTrue
        $Result.ExitCode | Should -Be 0
        $Result.acknowledged | Should -BeGreaterThan 0
        $Result.lost | Should -Be 0
        $Result.onlineCheckFailures | Should -Be 0
        $Result.onlineChecks | Should -BeGreaterOrEqual 1
        $Result.failovers | Should -BeGreaterOrEqual $MinFailovers
        $Result.offlineCheck.checked | Should -Be $Result.acknowledged
        $Result.offlineCheck.missing | Should -Be 0
        $Result.hangs | Should -Be 0
        $Result.checkpoints | Should -BeGreaterThan 0
        $Result.qemuVersion | Should -Not -BeNullOrEmpty
        $Result.qemuLeftRunning | Should -Be 0
    }
}

Describe 'COLO keeps every acknowledged write across 10 failovers' -Tag 'E2E', 'Proof' -Skip:([bool]$ProofSkipReason) {
    BeforeAll {
        $ns = "colops-proof-$PID"
        $tmp = New-TestDirectory
        if (-not $GuestError) { New-ProofNetwork -Namespace $ns }
    }
    AfterAll {
        Remove-ProofNetwork -Namespace $ns
        Remove-TestDirectory $tmp
    }

    It 'kills the primary and the secondary in turn, 10 times over both sites, with a client writing all along: 0 acknowledged writes lost' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $r = Invoke-ColoProofRun -Namespace $ns -Scenario Proof -Failovers 10 -PortBase 51000 -WorkDirectory "$tmp/w" -ResultPath (Join-Path $Results 'proof.json')
        Write-Host ("proof: acknowledged {0}, lost {1}, failovers {2}, checkpoints {3} (median {4} ms), longest client wait across a failover {5} ms (over the whole run, resume pauses included, {6} ms), QEMU {7} ({8}), {9} s" -f
            $r.acknowledged, $r.lost, $r.failovers, $r.checkpoints, $r.checkpointMs.median, $r.longestFailoverWaitMs, $r.longestClientWaitMs, $r.qemuVersion, $r.accelerator, $r.durationSeconds)
        Assert-ProofResult $r -MinFailovers 10
        $r.failovers | Should -Be 10
        $r.onlineChecks | Should -Be 10
        # About one a second while protected; far fewer means the pair was not checkpointing.
        $r.checkpoints | Should -BeGreaterOrEqual 50
        $r.accelerator | Should -Not -BeNullOrEmpty
        # The primary and the secondary die in turn, and each site loses each role.
        @($r.cycles.role) | Should -Be @('primary', 'secondary', 'primary', 'secondary', 'primary', 'secondary', 'primary', 'secondary', 'primary', 'secondary')
        @($r.cycles.lost) | Should -Be @('A', 'A', 'B', 'B', 'A', 'A', 'B', 'B', 'A', 'A')
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}

Describe 'COLO keeps every acknowledged write across 4 failovers with TLS on every link, each site in its own namespace' -Tag 'E2E', 'Proof', 'Tls' -Skip:([bool]$ProofSkipReason -or -not (Get-Command openssl -ErrorAction Ignore)) {
    # As two hosts: each site's QEMU in a namespace of its own (<ns>-a, <ns>-b) with its own address
    # (10.78.0.1, 10.78.0.2) on the link between them, its own certificate folder naming that address.
    BeforeAll {
        $ns = "colops-tlsproof-$PID"
        $tmp = New-TestDirectory
        if (-not $GuestError) { New-ProofNetwork -Namespace $ns -SplitSites }
    }
    AfterAll {
        Remove-ProofNetwork -Namespace $ns
        Remove-TestDirectory $tmp
    }

    It 'kills the primary and the secondary in turn, 4 times over both sites, the pair''s links over TLS: 0 acknowledged writes lost' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $r = Invoke-ColoProofRun -Namespace $ns -Scenario Proof -Failovers 4 -PortBase 51350 -Tls -SplitSites -WorkDirectory "$tmp/w" -ResultPath (Join-Path $Results 'proof-tls.json')
        Write-Host ("TLS proof: acknowledged {0}, lost {1}, failovers {2}, checkpoints {3} (median {4} ms), longest client wait across a failover {5} ms (whole run {6} ms), links seen encrypted {7} of {8} times, {9} s" -f
            $r.acknowledged, $r.lost, $r.failovers, $r.checkpoints, $r.checkpointMs.median, $r.longestFailoverWaitMs, $r.longestClientWaitMs, $r.tls.encryptedSamples, @($r.tls.samples).Count, $r.durationSeconds)
        Assert-ProofResult $r -MinFailovers 4
        $r.failovers | Should -Be 4
        $r.onlineChecks | Should -Be 4
        @($r.cycles.role) | Should -Be @('primary', 'secondary', 'primary', 'secondary')
        @($r.cycles.lost) | Should -Be @('A', 'A', 'B', 'B')
        # QEMU's own account (Get-ColoStatus) of the protected pair's links: TLS, not clear.
        $r.tls.enabled | Should -BeTrue
        $r.tls.encryptedSamples | Should -BeGreaterOrEqual 1
        $protected = @($r.tls.samples | Where-Object protection -eq 'Protected')
        $protected.Count | Should -BeGreaterOrEqual 1
        @($protected | Where-Object { $_.migration -ne $true -or $_.nbd -ne $true -or $_.secondaryMigration -ne $true }) | Should -BeNullOrEmpty
        # The sites as hosts: each QEMU in its site's namespace, listening on its site's address only,
        # given its own certificate folder, whose server certificate names that address.
        $address = @{ A = '10.78.0.1'; B = '10.78.0.2' }
        Assert-SiteTopology -Topology $r.topology -Namespace @{ A = "$ns-a"; B = "$ns-b" } -Address $address
        # Every protected sample's links cross between the namespaces, to the secondary's address.
        foreach ($x in $protected) {
            $peer = $address[$x.secondary.Substring($x.secondary.Length - 1)]
            $x.nbdPeer | Should -BeExactly "${peer}:51359"
            $x.migrationPeer | Should -BeExactly $peer
        }
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}

Describe 'Fault matrix with a real guest' -Tag 'E2E', 'Proof', 'FaultMatrix' -Skip:([bool]$ProofSkipReason) {
    BeforeAll {
        $ns = "colops-fault-$PID"
        $tmp = New-TestDirectory
        if (-not $GuestError) { New-ProofNetwork -Namespace $ns }
    }
    AfterAll {
        Remove-ProofNetwork -Namespace $ns
        Remove-TestDirectory $tmp
    }

    It '<Title>' -ForEach $FaultCases {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $work = "$tmp/$Scenario"
        $dirty = if ($DirtyMiB) { $DirtyMiB } else { 0 }
        $r = Invoke-ColoProofRun -Namespace $ns -Scenario $Scenario -PortBase $Port -DirtyMiB $dirty -WorkDirectory $work -ResultPath (Join-Path $Results "fault-$Scenario.json")
        Write-Host ("{0}: acknowledged {1}, lost {2}, failovers {3}, checkpoints {4}, longest client wait across the failover {5} ms (whole run {6} ms), {7} s{8}" -f $Scenario, $r.acknowledged, $r.lost, $r.failovers, $r.checkpoints, $r.longestFailoverWaitMs, $r.longestClientWaitMs, $r.durationSeconds,
            $(if ($r.checkpointStrike) { "; kill $($r.checkpointStrike.killAfterStopMs) ms after STOP, inside the checkpoint: $($r.checkpointStrike.insideCheckpoint)" }) +
            $(if ($r.survivorCrashed) { '; the survivor''s QEMU crashed too (seen with 11.1.3), the guest was cold-started from its disk' }))
        Assert-ProofResult $r
        if ($Outcome) { $r.fault.outcome | Should -Match $Outcome }
        else { $r.fault | Should -BeNullOrEmpty }
        if ($Scenario -like '*DuringCheckpoint') {
            # The kill must have struck inside the checkpoint: no RESUME stamped before it.
            $r.checkpointStrike.insideCheckpoint | Should -BeTrue
            $r.checkpointStrike.resumeBeforeKill | Should -BeFalse
        }
        Get-QemuProcessUnder -Directory $work | Should -BeNullOrEmpty
    }

    It 'link between the two sites cut (a namespace per site, link down): at most one side answers as primary' {
        # What happens (seen on QEMU 7.2/TCG, before checkpoints worked): the primary stays "Protected/primary/running" but stops
        # acknowledging (each guest write waits for its replica over NBD); the secondary stays in COLO
        # mode secondary and never answers the client on its own (its tap is off the client bridge).
        # Nobody answers writes until the operator fences the primary and fails over the secondary,
        # which then has every acknowledged write. Then the link comes back and a resume protects it.
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $cutNs = "colops-cut-$PID"
        try {
            New-ProofNetwork -Namespace $cutNs -SplitSites
            $work = "$tmp/LinkCut"
            $r = Invoke-ColoProofRun -Namespace $cutNs -Scenario LinkCut -PortBase 51600 -WorkDirectory $work -ResultPath (Join-Path $Results 'fault-LinkCut.json') -SplitSites
        }
        finally { Remove-ProofNetwork -Namespace $cutNs }
        Write-Host ("LinkCut: acknowledged {0}, lost {1}, acknowledged during the 15 s cut {2}, client wait across cut and failover {3} ms" -f $r.acknowledged, $r.lost, $r.linkCut.acksDuringCut, $r.longestFailoverWaitMs)
        Assert-ProofResult $r
        # The secondary never became a primary by itself while the link was down.
        @($r.linkCut.samples.B | Where-Object { $_ -notmatch '/secondary/' }) | Should -BeNullOrEmpty
        @($r.linkCut.samples).Count | Should -BeGreaterOrEqual 5
        Get-QemuProcessUnder -Directory $work | Should -BeNullOrEmpty
    }
}

Describe 'COLO keeps every acknowledged write across 20 failovers (long run)' -Tag 'E2E', 'Proof', 'Long' -Skip:([bool]$ProofSkipReason) {
    BeforeAll {
        $ns = "colops-long-$PID"
        $tmp = New-TestDirectory
        if (-not $GuestError) { New-ProofNetwork -Namespace $ns }
    }
    AfterAll {
        Remove-ProofNetwork -Namespace $ns
        Remove-TestDirectory $tmp
    }

    It 'kills the primary and the secondary in turn, 20 times over both sites: 0 acknowledged writes lost' {
        if ($GuestError) { Set-ItResult -Skipped -Because $GuestError; return }
        $r = Invoke-ColoProofRun -Namespace $ns -Scenario Proof -Failovers 20 -PortBase 51900 -WorkDirectory "$tmp/w" -ResultPath (Join-Path $Results 'proof-long.json')
        Write-Host ("long proof: acknowledged {0}, lost {1}, failovers {2}, checkpoints {3} (median {4} ms), longest client wait across a failover {5} ms (whole run {6} ms), {7} s" -f $r.acknowledged, $r.lost, $r.failovers, $r.checkpoints, $r.checkpointMs.median, $r.longestFailoverWaitMs, $r.longestClientWaitMs, $r.durationSeconds)
        Assert-ProofResult $r -MinFailovers 20
        $r.failovers | Should -Be 20
        $r.onlineChecks | Should -Be 20
        @($r.cycles.role | Select-Object -Unique) | Should -Be @('primary', 'secondary')
        $r.checkpoints | Should -BeGreaterOrEqual 100
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}
