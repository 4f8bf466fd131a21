<#
.SYNOPSIS
    COLO's promise with a real guest: a client keeps writing numbered records while sides of the
    pair are killed, failed over and re-protected; no acknowledged write may be lost.
.DESCRIPTION
    Runs INSIDE the network namespace that tests/Pester/ProofHelpers.psm1 creates (`ip netns exec`):
    QEMU is started daemonized by ColoPS and inherits this process's namespace, so both sites' COLO
    sockets live on the namespace's loopback (site A 127.0.0.1, site B 127.0.0.2) and both taps are
    in it. The client (tests/guest/ProofClient.cs) talks to the guest at 10.77.0.2:50080 through the
    bridge, the primary's tap and netdev, and colo-compare. The secondary's tap is off the bridge
    while the pair is protected; a failover moves the survivor's tap onto it.

    Scenarios:
      Proof                        -Failovers times: kill the primary (SIGKILL), fail over on the
                                   secondary, check the survivor's disk through the guest, start a
                                   secondary where the primary was, resume. Sites alternate.
      LinkCut                      (needs -SiteNamespace: each site's QEMU in its own namespace, the
                                   sites joined by one veth link) cut the link for 15 s while the
                                   client writes, sampling both sides' status; then fence (kill)
                                   the primary, fail over on the secondary, restore the link, resume
      SecondaryKilled              kill the protected secondary, fail over on the primary
      PrimaryKilledDuringCheckpoint   kill the primary at its STOP of a checkpoint (before its RESUME),
                                   fail over on the secondary, resume (use -DirtyMiB for long checkpoints)
      SecondaryKilledDuringCheckpoint kill the secondary at the primary's STOP of a checkpoint, fail
                                   over on the primary, resume
      PrimaryFrozen                SIGSTOP the primary, fail over on the secondary
      SecondaryFrozen              SIGSTOP the secondary, fail over on the primary
      SecondaryKilledDuringMirror  after one primary failover, kill the new secondary while resume's
                                   drive-mirror runs; the survivor keeps serving, a second resume
                                   protects it again
      PrimaryKilledDuringMirror    after one primary failover, kill the survivor while resume's
                                   drive-mirror runs: nothing runs the VM any more; the guest is
                                   cold-started from the killed side's disk and must hold every
                                   acknowledged write
      SecondaryKilledStarting      after one primary failover, kill the new secondary while
                                   Start-ColoSecondary starts it: the start fails, the survivor keeps
                                   serving, a resume protects it
      PrimaryKilledStarting        after one primary failover, kill the survivor while the new
                                   secondary starts: cold start from the killed side's disk
      SecondaryKilledDuringMigration  after one primary failover, kill the new secondary while
                                   resume's migration runs: the resume fails and is rolled back,
                                   the survivor keeps serving, a second resume protects it
      PrimaryKilledDuringMigration after one primary failover, kill the survivor while resume's
                                   migration runs: cold start from the killed side's disk
      Guarded                      -Failovers times, by the guards (tests/guest/GuardedCycles.ps1): a
                                   guard per site with an etcd witness and Witness.Reprotect; the
                                   primary QEMU of each side is killed in turn, the guards fail over
                                   and re-protect, the run only moves the serving tap and checks
      GuardedFaults                (needs -SiteNamespace and a witness namespace, New-ProofNetwork
                                   -SplitSites -Witness) issue 10's faults in one boot, each site's
                                   QEMU and guard in its namespace, etcd in the witness's
                                   (tests/guest/GuardedFaults.ps1)
      FirstStartSecondaryKilled    kill the secondary during the first migration of Start-ColoPrimary
      FirstStartPrimaryKilled      kill the primary during the first migration of Start-ColoPrimary
                                   (both: the guest has not run yet; the start fails with a typed
                                   error, nothing is left running, both disks are still identical,
                                   and a second start protects the pair, which then serves and
                                   fails over)
    The guest's answers differ between primary and secondary, so the pair checkpoints all along
    (every -CheckpointIntervalMs at the latest); a run without a checkpoint fails, and a primary
    STOPped for more than a few seconds counts as a hang.
    Every scenario ends with a check through the guest, Stop-ColoNode of what still runs, an
    offline read of the survivor's disk (qemu-img), and a JSON result at -ResultPath.
    Exit code 0 only when no acknowledged write is lost and the scenario did what it should.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $WorkDirectory,
    [Parameter(Mandatory)] [string] $ResultPath,
    [string] $ModulePath = $env:COLOPS_MODULE,
    [ValidateSet('Proof', 'LinkCut', 'SecondaryKilled', 'PrimaryKilledDuringCheckpoint', 'SecondaryKilledDuringCheckpoint', 'PrimaryFrozen', 'SecondaryFrozen', 'SecondaryKilledDuringMirror', 'PrimaryKilledDuringMirror',
        'SecondaryKilledStarting', 'PrimaryKilledStarting', 'SecondaryKilledDuringMigration', 'PrimaryKilledDuringMigration',
        'FirstStartSecondaryKilled', 'FirstStartPrimaryKilled', 'Guarded', 'GuardedFaults')]
    [string] $Scenario = 'Proof',
    [int] $Failovers = 10,
    [int] $PortBase = 51000,
    [string] $Bridge = 'cpbr0',
    [string] $TapA = 'cpta',
    [string] $TapB = 'cptb',
    # Each acknowledgement waits for a checkpoint (the answers differ), so about one per CheckpointIntervalMs.
    [int] $ProtectedAcks = 15,
    [int] $MemoryMB = 256,
    # x-checkpoint-delay: the longest the pair runs without a checkpoint.
    [int] $CheckpointIntervalMs = 1000,
    # MiB of guest RAM the guest rewrites without pause (kernel argument colops.dirty): each checkpoint
    # then copies that much, which makes it last long enough to be struck. 0: an idle guest.
    [int] $DirtyMiB = 0,
    # "<site A namespace>,<site B namespace>": each site's QEMU runs in its own namespace (New-ProofNetwork -SplitSites)
    [string] $SiteNamespace = '',
    # For the demo (tools/Start-ColoDemo.ps1): Get-ColoStatus tables at each stage, and the configuration exported.
    [switch] $ShowStatus,
    # Every COLO link over TLS: the pair's certificates are made with New-ColoCertificate, and the
    # links Get-ColoStatus reports are sampled on each protected pair (result.tls).
    [switch] $Tls
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$clockAll = [System.Diagnostics.Stopwatch]::StartNew()

Import-Module $ModulePath -Force
# Sites as hosts (-SiteNamespace): the QEMU wrapper and Get-SiteTopology.
Import-Module (Join-Path $PSScriptRoot '../Pester/SiteHosts.psm1') -Force
Add-Type -Path (Join-Path $PSScriptRoot 'ProofClient.cs')
$guest = & (Join-Path $PSScriptRoot 'Build-TestGuest.ps1')

$GuestIp = '10.77.0.2'
$GuestPort = 50080
$GuestMac = '52:54:00:77:00:02'
$null = New-Item -ItemType Directory -Force -Path $WorkDirectory
$taps = @{ A = $TapA; B = $TapB }

$result = [ordered]@{
    scenario = $Scenario; passed = $false; acknowledged = 0; lost = 0; failovers = 0; longestFailoverWaitMs = 0; longestClientWaitMs = 0
    fault = $null; qemuVersion = $null; accelerator = $null; kernel = $guest.KernelPackage; busybox = $guest.BusyboxPackage
    onlineChecks = 0; onlineCheckFailures = 0; offlineCheck = $null; offlineCheckSecondary = $null; qemuLeftRunning = $null; survivorCrashed = $false; checkpoints = 0; checkpointMs = $null; hangs = 0; checkpointStrike = $null
    connections = 0; clientIoErrors = 0; failoverSeconds = @(); resumeSeconds = @(); cycles = @(); events = @(); error = $null
    tls = [ordered]@{ enabled = [bool]$Tls; samples = @(); encryptedSamples = 0 }; topology = $null
    durationSeconds = 0
}

function Note([string] $what) {
    $line = '{0:HH:mm:ss.fff} {1}' -f [DateTime]::UtcNow, $what
    Write-Host "[proof] $line"
    $result.events += $line
}

function Show-Status([string] $title) {
    if (-not $ShowStatus) { return }
    Write-Host ''
    Write-Host "== $title (client: $($client.AckCount) writes acknowledged)" -ForegroundColor Cyan
    @($nodes.A, $nodes.B) | Where-Object { $_ } | Get-ColoStatus | Format-Table -AutoSize | Out-Host
}

function Add-LinkSample([string] $when) {
    # What Get-ColoStatus says of the protected pair's links: the primary's migration stream and NBD
    # client, and the secondary's migration stream (the proof's claim that TLS was on, from QEMU).
    if (-not $Tls) { return }
    # (Not $p/$s: PowerShell's names ignore case, they would hide $P and $S.)
    $ps = Get-ColoStatus -Node $P
    $ss = Get-ColoStatus -Node $S
    $sample = [ordered]@{
        when = $when; primary = $P.Name; secondary = $S.Name; protection = "$($ps.Protection)"
        migration = ($ps.Links | Where-Object Name -eq 'Migration').Encrypted
        nbd = ($ps.Links | Where-Object Name -eq 'Nbd').Encrypted
        secondaryMigration = ($ss.Links | Where-Object Name -eq 'Migration').Encrypted
        # Whom the primary's links name: the secondary's address (its namespace's, with -SiteNamespace).
        migrationPeer = ($ps.Links | Where-Object Name -eq 'Migration').Peer
        nbdPeer = ($ps.Links | Where-Object Name -eq 'Nbd').Peer
    }
    $script:result.tls.samples += $sample
    if ($sample.protection -eq 'Protected' -and $sample.migration -eq $true -and $sample.nbd -eq $true -and $sample.secondaryMigration -eq $true) { $script:result.tls.encryptedSamples++ }
    Note "links of $($P.Name)/$($S.Name) ($($sample.protection)): migration encrypted $($sample.migration), NBD $($sample.nbd), secondary's migration $($sample.secondaryMigration)"
}

function Invoke-Ip {
    $out = & ip @args 2>&1
    if ($LASTEXITCODE -ne 0) { throw "ip $($args -join ' ') failed: $out" }
}

function Set-ServingSite([string] $site) {
    # The network switch-over of a failover: only the serving side's tap is on the client bridge.
    $other = if ($site -eq 'A') { 'B' } else { 'A' }
    Invoke-Ip link set $taps[$other] nomaster
    Invoke-Ip link set $taps[$site] master $Bridge
}

function Read-Console($node) {
    $r = Invoke-QmpCommand -Session $node.Session -Command ringbuf-read -Arguments @{ device = 'con0'; size = 65536; format = 'utf8' } -TimeoutSec 5
    "$r"
}

function Wait-GuestReady([object[]] $nodes, [int] $timeoutSec = 120) {
    $text = @{}
    foreach ($n in $nodes) { $text[$n.Name] = '' }
    $deadline = [DateTime]::UtcNow.AddSeconds($timeoutSec)
    while ($true) {
        $ready = $true
        foreach ($n in $nodes) {
            $text[$n.Name] += Read-Console $n
            if ($text[$n.Name] -notmatch 'GUEST-READY carrier=1 sda=yes') { $ready = $false }
        }
        if ($ready) { return }
        if ([DateTime]::UtcNow -gt $deadline) { throw "The guest did not boot in $timeoutSec s: $($text | ConvertTo-Json)" }
        Start-Sleep -Milliseconds 250
    }
}

function Wait-Acks([int] $count, [int] $timeoutSec = 90, [string] $what = 'acknowledged writes') {
    $target = $client.AckCount + $count
    $deadline = [DateTime]::UtcNow.AddSeconds($timeoutSec)
    while ($client.AckCount -lt $target) {
        if ([DateTime]::UtcNow -gt $deadline) {
            $hung = ''
            if ($P -and $P.IsProcessAlive) {
                try { Assert-NotHung $P $mark } catch { $hung = " $($_.Exception.Message)" }
                # What the serving guest itself says (kernel messages on its console), and its run state.
                try {
                    $st = Invoke-QmpCommand -Session $P.Session -Command query-status -TimeoutSec 5 -ErrorAction Stop
                    $hung += " $($P.Name) run state: $($st.status). Console: $((Read-Console $P) -replace '\s+', ' ')"
                }
                catch { $hung += " $($P.Name) did not answer query-status: $($_.Exception.Message)" }
            }
            throw "The client got $($client.AckCount - $target + $count) of $count $what in $timeoutSec s.$hung Client: $($client.Events() | Select-Object -Last 5)"
        }
        Start-Sleep -Milliseconds 50
    }
}

$checkpointCounted = @{}
$checkpointDurations = [System.Collections.Generic.List[double]]::new()

function Update-Checkpoint($primary, [long] $from) {
    # A checkpoint shows on the primary as STOP then RESUME (QMP has no counter). Counts those after
    # $from that were not counted yet; a STOP still open (a checkpoint under way, or the one a test
    # struck) is not a checkpoint that happened.
    if (-not $primary -or -not $primary.Session) { return }
    $key = $primary.Session.InstanceId
    $after = [math]::Max($from, [long]$checkpointCounted[$key])
    $open = $null
    foreach ($e in @(Get-QmpEvent -Session $primary.Session -AfterSequence $after | Where-Object Name -in 'STOP', 'RESUME')) {
        if ($e.Name -eq 'STOP') { $open = $e; continue }
        if ($open) {
            $script:result.checkpoints++
            if ($open.Timestamp -and $e.Timestamp) { $checkpointDurations.Add(($e.Timestamp - $open.Timestamp).TotalMilliseconds) }
            $checkpointCounted[$key] = $e.Sequence
            $open = $null
        }
    }
}

function Assert-NotHung($primary, [long] $from, [int] $timeoutSec = 8) {
    # A checkpoint stops the primary for well under a second here; a STOP without RESUME for
    # $timeoutSec, or a QMP that no longer answers, is a hang (as 7.2's TCG checkpoint deadlock was).
    $last = @(Get-QmpEvent -Session $primary.Session -AfterSequence $from | Where-Object Name -in 'STOP', 'RESUME') | Select-Object -Last 1
    if ($last -and $last.Name -eq 'STOP') {
        $left = [math]::Max(1, [int][math]::Ceiling($timeoutSec - ([DateTimeOffset]::Now - $last.ReceivedAt).TotalSeconds))
        $resumed = Wait-QmpEvent -Session $primary.Session -Name RESUME -AfterSequence $last.Sequence -TimeoutSec $left -ErrorAction Ignore
        if (-not $resumed) {
            $script:result.hangs++
            throw "The primary $($primary.Name) STOPped (a checkpoint) at $($last.ReceivedAt.ToString('HH:mm:ss.fff')) and did not RESUME within $timeoutSec s: it hangs."
        }
    }
    try { $null = Invoke-QmpCommand -Session $primary.Session -Command query-status -TimeoutSec $timeoutSec -ErrorAction Stop }
    catch {
        $script:result.hangs++
        throw "The primary $($primary.Name) no longer answers QMP ($($_.FullyQualifiedErrorId)): its main loop hangs."
    }
    Update-Checkpoint $primary $from
}

function Stop-DuringCheckpoint($primary, $victim, [int] $timeoutSec = 30) {
    # Kills $victim at the primary's next STOP (a checkpoint starts), then tells whether the kill
    # really landed inside the checkpoint: QEMU stamps RESUME with its own clock, so a RESUME stamped
    # before the kill means the checkpoint had ended. The primary's events are all read (a killed
    # primary's session disconnects once its socket is drained; a live one's RESUME comes with the
    # failover at the latest) before the verdict.
    $from = $primary.Session.LastEventSequence
    $stop = $primary.Session.WaitForEventAsync([string[]]@('STOP'), $from, [TimeSpan]::FromSeconds($timeoutSec)).GetAwaiter().GetResult()
    $killAt = [DateTimeOffset]::Now
    [System.Diagnostics.Process]::GetProcessById($victim.ProcessId).Kill()
    $strike = [ordered]@{ victim = $victim.Name; stopReceived = $stop.ReceivedAt.ToString('HH:mm:ss.fff'); killAt = $killAt.ToString('HH:mm:ss.fff')
        killAfterStopMs = [math]::Round(($killAt - $stop.ReceivedAt).TotalMilliseconds, 1); resumeBeforeKill = $null; insideCheckpoint = $null; previousCheckpointMs = $null }
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ($victim.IsProcessAlive -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 5 }
    $script:strikeState = @{ Strike = $strike; Stop = $stop; KillAt = $killAt; Primary = $primary }
    Note "killed $($victim.Name) $($strike.killAfterStopMs) ms after the primary's STOP (sequence $($stop.Sequence))"
}

function Complete-Strike {
    # The verdict of Stop-DuringCheckpoint, once the failover has run (a surviving primary resumes then).
    $st = $script:strikeState
    if (-not $st) { return }
    $primary = $st.Primary
    if ($primary.Session.State -eq 'Running' -and -not $primary.IsProcessAlive) { Start-Sleep -Milliseconds 500 }
    $resume = @(Get-QmpEvent -Session $primary.Session -AfterSequence $st.Stop.Sequence | Where-Object Name -eq 'RESUME') | Select-Object -First 1
    $strike = $st.Strike
    $strike.resumeBeforeKill = [bool]($resume -and $resume.Timestamp -and $resume.Timestamp -lt $st.KillAt)
    $strike.insideCheckpoint = -not $strike.resumeBeforeKill
    if ($resume) { $strike.resumeAt = $resume.Timestamp.ToLocalTime().ToString('HH:mm:ss.fff') }
    if ($checkpointDurations.Count) { $strike.previousCheckpointMs = [math]::Round($checkpointDurations[-1], 1) }
    $script:result.checkpointStrike = $strike
    Note ("checkpoint strike: " + ($strike | ConvertTo-Json -Compress))
    if (-not $strike.insideCheckpoint) { throw "The kill of $($strike.victim) landed after the checkpoint's RESUME: not a kill during a checkpoint." }
}

function Test-Survivor([string] $why) {
    # Through the survivor guest, on a fresh connection: the highest number on its disk and the whole
    # sequence. Every number acknowledged before the question must be there, in order.
    $acked = $client.Acks()
    $max = $client.Next + 16
    $high = [ColoProof.ProofClient]::Ask($GuestIp, $GuestPort, "H$max", 30000)
    $seqLine = [ColoProof.ProofClient]::Ask($GuestIp, $GuestPort, "S$max", 30000)
    $result.onlineChecks++
    if ($seqLine -notmatch '^SEQ (.*)END$') { throw "The survivor answered the sequence query with '$seqLine'." }
    $seq = @($Matches[1].Trim() -split ' ' | Where-Object { $_ } | ForEach-Object { [long]$_ })
    $onDisk = [System.Collections.Generic.HashSet[long]]::new()
    foreach ($n in $seq) { $null = $onDisk.Add($n) }
    $lost = @($acked | Where-Object { -not $onDisk.Contains($_.Number) })
    $ordered = $true
    for ($i = 0; $i -lt $seq.Count; $i++) { if ($seq[$i] -ne $i + 1) { $ordered = $false; break } }
    $check = [ordered]@{ why = $why; acknowledged = $acked.Count; highestAcked = if ($acked) { $acked[-1].Number } else { 0 }; guestHigh = $high; onDisk = $seq.Count; lost = $lost.Count; inOrder = $ordered }
    Note ("survivor check ($why): " + ($check | ConvertTo-Json -Compress))
    if ($lost.Count -gt 0 -or -not $ordered) {
        $result.onlineCheckFailures++
        $result.lost = [math]::Max($result.lost, $lost.Count)
        throw "Survivor check ($why) failed: $($lost.Count) acknowledged numbers missing (first: $(($lost | Select-Object -First 10).Number -join ', ')), in order: $ordered."
    }
    $check
}

function Test-DiskOffline([string] $image) {
    # The image read offline with qemu-img: sector n must hold "REC n" for every acknowledged n.
    $acked = $client.Acks()
    $raw = Join-Path $WorkDirectory ('offline-' + [IO.Path]::GetFileNameWithoutExtension($image) + '.raw')
    $out = & qemu-img convert -f qcow2 -O raw $image $raw 2>&1
    if ($LASTEXITCODE -ne 0) { throw "qemu-img convert $image failed: $out" }
    $missing = [System.Collections.Generic.List[long]]::new()
    $fs = [System.IO.File]::OpenRead($raw)
    try {
        $buf = [byte[]]::new(16)
        foreach ($a in $acked) {
            $null = $fs.Seek($a.Number * 512, 'Begin')
            $null = $fs.Read($buf, 0, 16)
            $text = [System.Text.Encoding]::ASCII.GetString($buf)
            if (-not $text.StartsWith("REC $($a.Number) ")) { $missing.Add($a.Number) }
        }
    }
    finally { $fs.Dispose(); Remove-Item $raw -ErrorAction Ignore }
    $r = [ordered]@{ image = $image; checked = $acked.Count; missing = $missing.Count; firstMissing = @($missing | Select-Object -First 10) }
    Note ("offline check: " + ($r | ConvertTo-Json -Compress))
    $r
}

function Get-FailoverWait([int] $before) {
    # The longest wait of the requests answered first after the loss: the one in flight at the
    # kill (when there was one) waited across the failover.
    $w = @($client.Acks() | Select-Object -Skip $before | Select-Object -First 3).WaitMs | Measure-Object -Maximum
    $ms = [math]::Round([double]$w.Maximum, 1)
    $result.longestFailoverWaitMs = [math]::Max($result.longestFailoverWaitMs, $ms)
    $ms
}

function Stop-Hard($node, [string] $signal = 'KILL') {
    & kill "-$signal" $node.ProcessId
    if ($signal -eq 'KILL') {
        # Gone or a zombie (this container's init reaps late): either way it will never answer again.
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ($node.IsProcessAlive -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
    }
}

function Wait-Until([scriptblock] $probe, [string] $what, [int] $timeoutSec = 60, [int] $pollMs = 2) {
    # Polls $probe until it returns something, which is returned; a probe may throw to give up early.
    $deadline = [DateTime]::UtcNow.AddSeconds($timeoutSec)
    while ([DateTime]::UtcNow -lt $deadline) {
        $found = & $probe
        if ($found) { return $found }
        Start-Sleep -Milliseconds $pollMs
    }
    throw "No $what within $timeoutSec s."
}

function Wait-MirrorRunning($node) {
    # Resume's first step is drive-mirror of the whole disk; catch it while it copies.
    Wait-Until -what "drive-mirror job on $($node.Name)" -pollMs 20 {
        @(Invoke-QmpCommand -Session $node.Session -Command query-block-jobs -TimeoutSec 5) | Where-Object { $_.type -eq 'mirror' } | Select-Object -First 1
    }
}

function Wait-MigrationActive($session, $job) {
    # The primary's outgoing migration, caught while it sends RAM (status active). Other states are
    # passed over: a survivor that was a secondary reports its old incoming migration until the
    # resume starts a new one.
    Wait-Until -what "active migration on $($session.Name)" -timeoutSec 120 {
        $m = Invoke-QmpCommand -Session $session -Command query-migrate -TimeoutSec 5
        if ($m.status -eq 'active') { return $m }
        if ($job.State -in 'Completed', 'Failed', 'Stopped') { throw "The background cmdlet ended before its migration was seen active (last status '$($m.status)'): $(($job | Receive-Job -Keep).Outcome)" }
    }
}

function Wait-SessionNamed([string] $name) {
    # The session a cmdlet running in a thread job opened (the registry is process-wide).
    Wait-Until -what "QMP session named $name" { Get-QmpSession -Name $name -ErrorAction Ignore | Where-Object State -eq 'Running' | Select-Object -First 1 }
}

function Wait-SitePid([string] $site, [int] $notPid = 0) {
    # The pid QEMU writes (-pidfile) as soon as it has daemonized: the earliest moment a start can be
    # hit. The killed node's stale pid file stays until the new start clears it, hence -notPid.
    $file = $cfg.PidFileOf($site)
    Wait-Until -what "QEMU pid file $file" -pollMs 1 {
        $text = "$(Get-Content $file -Raw -ErrorAction Ignore)".Trim()
        if ($text -match '^\d+$' -and [int]$text -ne $notPid) { [int]$text }
    }
}

function Start-CmdletJob([scriptblock] $body, [object[]] $arguments) {
    # A ColoPS cmdlet in the background (same process: nodes and sessions are shared). The job
    # writes one object: Outcome "ok" or "failed: <error id>: <message>", the cmdlet's Output, and
    # for a failed start or resume what its roll-back could not undo (the error carries it).
    Start-ThreadJob -ArgumentList (@($ModulePath, $body.ToString()) + $arguments) -ScriptBlock {
        param($m, $code)
        Import-Module $m
        try { $o = & ([scriptblock]::Create($code)) @args; [pscustomobject]@{ Outcome = 'ok'; Output = $o; Rollback = $null } }
        catch { [pscustomobject]@{ Outcome = "failed: $($_.FullyQualifiedErrorId): $($_.Exception.Message)"; Output = $null; Rollback = [ColoPS.Colo.Operations.ColoRollbackResult]::Of($_.Exception) } }
    }
}

function Receive-CmdletJob($job, [int] $timeoutSec = 120) {
    $done = $job | Wait-Job -Timeout $timeoutSec
    if (-not $done) { $job | Remove-Job -Force; throw "The background cmdlet did not end within $timeoutSec s." }
    $out = $job | Receive-Job | Select-Object -Last 1
    $job | Remove-Job -Force
    $out
}

function Add-Fault([string] $phase, [string] $victim, [string] $outcome) {
    $script:result.fault = [ordered]@{ phase = $phase; victim = $victim; outcome = $outcome }
    Note "$victim killed $phase -> $outcome"
}

function Assert-NothingAtSite([string] $site) {
    $left = @(Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$($cfg.QmpSocketOf($site))*" -and $_.Id -and -not (Test-Zombie $_.Id) })
    if ($left) { throw "QEMU still runs at site ${site} after the failed start: $($left.Id -join ', ')." }
    foreach ($f in $cfg.QmpSocketOf($site), $cfg.PidFileOf($site)) { if (Test-Path $f) { throw "The failed start left $f behind." } }
}

function Test-Zombie([int] $id) {
    $stat = Get-Content "/proc/$id/stat" -Raw -ErrorAction Ignore
    (-not $stat) -or ($stat -match '^\d+ \(.*\) Z ')
}

function Invoke-ColdStart([string] $lostSite) {
    # Nothing runs the VM any more: the only good copy of the disk is the killed side's. Check it
    # offline, then boot the guest from it (plain QEMU, no COLO) and read every acknowledged write back.
    $client.Stop()
    $disk = $cfg.DiskPathOf($lostSite)
    $off = Test-DiskOffline $disk
    $script:result.offlineCheck = $off
    if ($off.missing -gt 0) { throw "The killed primary's disk lacks $($off.missing) acknowledged writes." }
    Set-ServingSite $lostSite
    $script:coldStarted = $true
    $cold = Join-Path $WorkDirectory 'cold'
    $null = New-Item -ItemType Directory -Force $cold
    $coldSock = Join-Path $cold 'cold.qmp'
    & qemu-system-x86_64 -name cold -accel tcg -m $MemoryMB -nodefaults -display none -daemonize -pidfile "$cold/cold.pid" `
        -qmp "unix:$coldSock,server=on,wait=off" -netdev "tap,id=hn0,ifname=$($taps["$lostSite"]),script=no,downscript=no,vhost=off" `
        -device "rtl8139,id=e0,netdev=hn0,romfile=,mac=$GuestMac" -drive "if=ide,file=$disk,format=qcow2" `
        -kernel $guest.Kernel -initrd $guest.Initrd -append $guest.Append -chardev 'ringbuf,id=con0,size=65536' -serial none -serial chardev:con0
    if ($LASTEXITCODE -ne 0) { throw 'The cold start of the guest from the killed primary''s disk failed.' }
    try {
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        $answer = $null
        while (-not $answer -and [DateTime]::UtcNow -lt $deadline) {
            try { $answer = [ColoProof.ProofClient]::Ask($GuestIp, $GuestPort, "H$($client.Next + 16)", 5000) } catch { Start-Sleep -Milliseconds 500 }
        }
        $check = Test-Survivor 'cold start from the killed primary''s disk'
        $script:result.cycles += [ordered]@{ coldStart = $true; check = $check }
    }
    finally {
        $coldPid = [int](Get-Content "$cold/cold.pid")
        & kill -KILL $coldPid
        Wait-Process -Id $coldPid -Timeout 10 -ErrorAction Ignore
    }
}

$client = $null
$cfg = $null
$coldStarted = $false
$newPid = 0
$nodes = @{}
$exit = 1
try {
    # The disk is written raw by the guest: 64 MiB is plenty and keeps resume's full mirror short.
    $siteAddress = @{ A = '127.0.0.1'; B = '127.0.0.2' }
    $qemuBinary = 'qemu-system-x86_64'
    if ($SiteNamespace) {
        # ColoPS starts QEMU in the caller's namespace; this wrapper moves each site's QEMU into its
        # site's namespace (ip netns exec execs, so the pid file still names QEMU itself).
        $nsA, $nsB = $SiteNamespace -split ','
        $siteAddress = @{ A = '10.78.0.1'; B = '10.78.0.2' }
        $qemuBinary = New-SiteQemuWrapper -Path (Join-Path $WorkDirectory 'qemu-in-site-ns.sh') -Name proof -NamespaceA $nsA -NamespaceB $nsB
    }
    $append = if ($DirtyMiB -gt 0) { "$($guest.Append) colops.dirty=$DirtyMiB" } else { $guest.Append }
    $ports = @{ CompareIn = $PortBase + 1; Mirror = $PortBase + 3; Compare = $PortBase + 4; CompareOut = $PortBase + 5; Migration = $PortBase + 8; Nbd = $PortBase + 9 }
    $script:certSets = 0
    function New-ProofConfig([string[]] $more = @()) {
        $c = New-ColoConfig -Name proof -MemoryMB $MemoryMB -DiskSizeGB 0.0625 -Ports $ports -CheckpointIntervalMs $CheckpointIntervalMs `
            -NetworkBackend tap -NicModel rtl8139 -MacAddress $GuestMac -QemuBinary $qemuBinary `
            -SiteA @{ Address = $siteAddress.A; WorkDirectory = "$WorkDirectory/a"; TapInterface = $TapA } `
            -SiteB @{ Address = $siteAddress.B; WorkDirectory = "$WorkDirectory/b"; TapInterface = $TapB } `
            -ExtraArgument (@('-kernel', $guest.Kernel, '-initrd', $guest.Initrd, '-append', $append,
                '-chardev', 'ringbuf,id=con0,size=65536', '-serial', 'chardev:con0',
                # Diagnostics: QEMU's COLO trace events, in each site's QEMU log (ColoNode.LogPath).
                '-trace', 'enable=colo_*') + $more)
        if ($Tls) {
            # Each configuration its own CA and certificates (the FirstStart cases make two).
            $script:certSets++
            $c = New-ColoCertificate -Config $c -Path (Join-Path $WorkDirectory "certs$script:certSets") -Confirm:$false
        }
        $c
    }
    $cfg = New-ProofConfig
    if ($ShowStatus) {
        $cfg | Export-ColoConfig -Path (Join-Path $WorkDirectory 'proof.colo.json')
        Note "configuration written to $(Join-Path $WorkDirectory 'proof.colo.json')"
    }
    Set-ServingSite A

    if ($Scenario -like 'FirstStart*') {
        # The pair's first start, hit during its migration. The guest has not run yet (the primary
        # waits with -S until COLO is up), so there is nothing to serve: the start must fail with a
        # typed error, leave nothing running, and leave both disks as they were (identical, COLO's
        # starting point), so that a second start protects the pair.
        $victim = if ($Scenario -eq 'FirstStartPrimaryKilled') { 'primary' } else { 'secondary' }
        # A never-run guest's RAM is zero pages, sent in a blink: this attempt's QEMUs migrate at
        # 1 MiB/s (QEMU's x-max-bandwidth property) so the migration is still running when hit.
        $slow = New-ProofConfig @('-global', 'migration.x-max-bandwidth=1048576')
        $S = Start-ColoSecondary -Config $slow -Site B
        $job = Start-CmdletJob { param($c, $sec) Start-ColoPrimary -Config $c -Site A -Secondary $sec -WarningAction SilentlyContinue -ErrorAction Stop } @($slow, $S)
        $m = Wait-MigrationActive (Wait-SessionNamed 'proof-A') $job
        Note "first migration active: $($m.ram.transferred) of $($m.ram.total) bytes of RAM sent"
        if ($victim -eq 'primary') { & kill -KILL ([int](Get-Content $cfg.PidFileOf('A') -Raw).Trim()) } else { & kill -KILL $S.ProcessId }
        $r = Receive-CmdletJob $job
        Add-Fault 'during the first migration' $victim $r.Outcome
        if ($r.Outcome -notlike 'failed: *') { throw "Start-ColoPrimary reported success although the $victim was killed during the first migration." }
        Assert-NothingAtSite A
        Assert-NothingAtSite B
        $cmp = & qemu-img compare -f qcow2 -F qcow2 $cfg.DiskPathOf('A') $cfg.DiskPathOf('B') 2>&1
        if ($LASTEXITCODE -ne 0) { throw "After the failed start the two disks differ: $cmp" }
        Note "after the failed start: nothing runs, the disks are identical ($cmp); starting again"
        Get-QmpSession | Where-Object State -ne 'Running' | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    }

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $S = Start-ColoSecondary -Config $cfg -Site B
    $nodes.B = $S
    $P = Start-ColoPrimary -Config $cfg -Site A -Secondary $S -WarningAction SilentlyContinue
    $nodes.A = $P
    # Checkpoints are counted from here: the guest boots under COLO.
    $mark = $P.Session.LastEventSequence
    $result.qemuVersion = "$($P.QemuVersion)"
    $result.accelerator = "$($P.Accelerator)"
    Note "pair protected in $([math]::Round($clock.Elapsed.TotalSeconds, 2)) s ($($result.qemuVersion), $($result.accelerator))"
    # The boot-time secondary is replaced below: checkpoints of the boot (each copying much of the
    # booting guest's RAM) would only slow it. Differing output still forces some; the resume below
    # sets the configured interval again.
    $null = Invoke-QmpCommand -Session $P.Session -Command migrate-set-parameters -Arguments @{ 'x-checkpoint-delay' = 30000 }
    Wait-GuestReady @($P)
    Note "the guest booted under COLO in $([math]::Round($clock.Elapsed.TotalSeconds, 2)) s"
    # QEMU 11.1.3 under TCG: a secondary that ran the guest's boot while checkpoints overwrote its RAM
    # may go on running code the checkpoints replaced (seen: a kernel oops in the secondary while
    # modules load; survivors that answered neither ARP nor the service after a failover). Our reading:
    # a checkpoint rewrites the secondary's RAM behind TCG's back and its translations of the old code
    # stay valid. A secondary started on the booted guest has no old translations and, the guest's code
    # no longer changing, stays a faithful copy: replace the boot-time secondary before counting anything.
    Update-Checkpoint $P $mark
    Stop-Hard $S
    $null = Invoke-ColoFailover -Node $P -Confirm:$false -TimeoutSec 30
    $S = Start-ColoSecondary -Config $cfg -Site B
    $nodes.B = $S
    $null = Resume-ColoReplication -Node $P -Secondary $S -Confirm:$false
    $mark = $P.Session.LastEventSequence
    $delay = (Invoke-QmpCommand -Session $P.Session -Command query-migrate-parameters).'x-checkpoint-delay'
    if ($delay -ne $CheckpointIntervalMs) { throw "After the resume the primary's x-checkpoint-delay is $delay, not $CheckpointIntervalMs." }
    Note "boot-time secondary replaced by one started on the booted guest, $([math]::Round($clock.Elapsed.TotalSeconds, 2)) s"
    Add-LinkSample 'protected after boot'
    if ($SiteNamespace) {
        $result.topology = Get-SiteTopology -Config $cfg -Nodes $nodes -Namespace ($SiteNamespace -split ',')
        Note ("sites: " + (@('A', 'B') | ForEach-Object { $t = $result.topology[$_]; "$_ in $($t.qemuNamespace) at $($t.address), listening $($t.listening -join ' ')" }) -join '; ')
    }

    $client = [ColoProof.ProofClient]::new($GuestIp, $GuestPort)
    $client.Start()
    Wait-Acks $ProtectedAcks -what 'protected writes after boot'
    Show-Status 'Protected pair, guest booted, client writing through colo-compare'

    function Invoke-PrimaryLoss([string] $signal = 'KILL', [switch] $CheckpointExpected, [switch] $DuringCheckpoint) {
        # Kill (or freeze) the primary, fail over on the secondary, move the network, check the survivor.
        # -CheckpointExpected: the primary may be stuck in a checkpoint (the link to its secondary is cut).
        if (-not $CheckpointExpected) { Assert-NotHung $P $mark }
        $before = $client.AckCount
        $t = [System.Diagnostics.Stopwatch]::StartNew()
        if ($DuringCheckpoint) { Stop-DuringCheckpoint $P $P; $t.Restart() }
        else { Stop-Hard $P $signal }
        $r = Invoke-ColoFailover -Node $S -Confirm:$false -TimeoutSec 30
        Set-ServingSite $S.Site
        $fo = [math]::Round($t.Elapsed.TotalSeconds, 3)
        Update-Checkpoint $P $mark
        if ($DuringCheckpoint) { Add-Fault 'during a checkpoint' 'primary' $(if ($r) { 'ok' } else { 'no result' }); Complete-Strike }
        $result.failoverSeconds += $fo
        if ($signal -ne 'KILL') { & kill -KILL $P.ProcessId; Wait-Process -Id $P.ProcessId -Timeout 10 -ErrorAction Ignore }
        $result.failovers++
        Wait-Acks 5 -what 'writes after the failover'
        $wait = Get-FailoverWait $before
        Note "primary $($P.Name) lost ($signal), $($S.Name) serves alone after $fo s; the client waited $wait ms across it"
        Show-Status "After SIGKILL of the primary and Invoke-ColoFailover on $($S.Name)"
        $check = Test-Survivor "after failover $($result.failovers) to $($S.Name)"
        $script:result.cycles += [ordered]@{ failover = $result.failovers; lost = "$($P.Site)"; role = 'primary'; survivor = "$($S.Site)"; failoverSeconds = $fo; clientWaitMs = $wait; check = $check }
        $script:dead = $P
        $script:P = $S
        $script:S = $null
        $script:mark = $P.Session.LastEventSequence
        $script:nodes["$($dead.Site)"] = $null
    }

    function Invoke-SecondaryLoss([string] $signal = 'KILL', [switch] $DuringCheckpoint) {
        Assert-NotHung $P $mark
        $before = $client.AckCount
        $t = [System.Diagnostics.Stopwatch]::StartNew()
        if ($DuringCheckpoint) { Stop-DuringCheckpoint $P $S; $t.Restart() }
        else { Stop-Hard $S $signal }
        $r = Invoke-ColoFailover -Node $P -Confirm:$false -TimeoutSec 30
        $fo = [math]::Round($t.Elapsed.TotalSeconds, 3)
        if ($DuringCheckpoint) { Add-Fault 'during a checkpoint' 'secondary' $(if ($r) { 'ok' } else { 'no result' }); Complete-Strike }
        $result.failoverSeconds += $fo
        if ($signal -ne 'KILL') { & kill -KILL $S.ProcessId; Wait-Process -Id $S.ProcessId -Timeout 10 -ErrorAction Ignore }
        $result.failovers++
        Wait-Acks 5 -what 'writes after the failover'
        $wait = Get-FailoverWait $before
        Note "secondary $($S.Name) lost ($signal), $($P.Name) serves alone after $fo s; the client waited $wait ms across it"
        $check = Test-Survivor "after losing the secondary $($S.Name)"
        $script:result.cycles += [ordered]@{ failover = $result.failovers; lost = "$($S.Site)"; role = 'secondary'; survivor = "$($P.Site)"; failoverSeconds = $fo; clientWaitMs = $wait; check = $check }
        $script:dead = $S
        $script:S = $null
        $script:nodes["$($dead.Site)"] = $null
    }

    function Invoke-Reprotect {
        # New connection (the old one's sequence offset lives in the survivor's filter-rewriter only),
        # a new secondary where the lost side was, resume; then protected writes.
        $client.Reconnect()
        $c = $client.Connections
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ($client.Connections -eq $c -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        Wait-Acks 3 -what 'writes on the new connection'
        $t = [System.Diagnostics.Stopwatch]::StartNew()
        $script:S = Start-ColoSecondary -Config $cfg -Site $dead.Site
        $script:nodes["$($S.Site)"] = $S
        $null = Resume-ColoReplication -Node $P -Secondary $S -Confirm:$false
        $rs = [math]::Round($t.Elapsed.TotalSeconds, 3)
        $script:result.resumeSeconds += $rs
        $script:mark = $P.Session.LastEventSequence
        Note "protected again: $($P.Name) primary, $($S.Name) secondary, in $rs s"
        Add-LinkSample "protected again after failover $($result.failovers)"
        Wait-Acks $ProtectedAcks -what 'protected writes'
        Show-Status "Re-protected: $($P.Name) primary, $($S.Name) secondary"
    }

    function Start-ResumeUntil([ValidateSet('mirror', 'migration')] [string] $phase) {
        # Lose the primary, start a new secondary where it was, and run the resume in the background
        # until it reaches the phase (its disk mirror, or its migration sending RAM): the moment the
        # mirror and migration fault cases strike.
        Invoke-PrimaryLoss
        $client.Reconnect()
        Wait-Acks 3
        $script:S = Start-ColoSecondary -Config $cfg -Site $dead.Site
        $script:nodes["$($S.Site)"] = $S
        if ($phase -eq 'migration') {
            # A few MiB of guest RAM cross loopback in a blink: slow the migration (an operator's own
            # QMP setting, which the resume leaves alone) so it is still sending when the test strikes.
            $script:savedBandwidth = (Invoke-QmpCommand -Session $P.Session -Command query-migrate-parameters).'max-bandwidth'
            $null = Invoke-QmpCommand -Session $P.Session -Command migrate-set-parameters -Arguments @{ 'max-bandwidth' = 1MB }
        }
        $job = Start-CmdletJob { param($p, $s) Resume-ColoReplication -Node $p -Secondary $s -Confirm:$false -ErrorAction Stop } @($P, $S)
        if ($phase -eq 'mirror') {
            $mj = Wait-MirrorRunning $P
            Note "drive-mirror running on $($P.Name): $($mj.offset)/$($mj.len)"
        }
        else {
            $m = Wait-MigrationActive $P.Session $job
            Note "resume's migration active on $($P.Name): $($m.ram.transferred) of $($m.ram.total) bytes of RAM sent"
        }
        return $job
    }

    function Invoke-ResumeFault([ValidateSet('Primary', 'Secondary')] [string] $victim, [ValidateSet('Mirror', 'Migration')] [string] $phase) {
        # Kill one side while resume's disk mirror or migration runs.
        $job = Start-ResumeUntil $phase.ToLowerInvariant()
        $what = if ($phase -eq 'Mirror') { 'during resume''s disk mirror' } else { 'during resume''s migration' }
        $lostSite = if ($victim -eq 'Primary') { "$($P.Site)" } else { "$($S.Site)" }
        Stop-Hard $(if ($victim -eq 'Primary') { $P } else { $S })
        $received = Receive-CmdletJob $job
        $outcome = $received.Outcome
        Add-Fault $what $victim.ToLowerInvariant() $outcome
        $script:nodes[$lostSite] = $null
        if ($victim -eq 'Primary') {
            # The new secondary never received a whole machine: it cannot serve (its QEMU may have
            # ended by itself). The only good copy of the disk is the killed side's.
            Stop-ColoNode -Node $S
            $script:nodes["$($S.Site)"] = $null
            Assert-NothingAtSite "$($S.Site)"
            Invoke-ColdStart $lostSite
            return
        }
        if ($outcome -eq 'ok') { throw "Resume-ColoReplication reported success although its secondary was killed $what." }
        if (-not $P.IsProcessAlive) {
            # Seen with QEMU 11.1.3: the survivor segfaults when the new secondary (its drive-mirror's
            # NBD target) dies around the end of the mirror. Nothing runs the VM then; ColoPS must
            # still have removed the new secondary, and the survivor's disk must hold every write.
            $script:result.survivorCrashed = $true
            Note "the survivor $($P.Name) itself ended (QEMU crashed: $(Get-Content $P.LogPath -Tail 1 -ErrorAction Ignore)); cold start from its disk"
            Assert-NothingAtSite $lostSite
            $survivorSite = "$($P.Site)"
            $script:nodes[$survivorSite] = $null
            Invoke-ColdStart $survivorSite
            return
        }
        if ($phase -eq 'Migration') { $null = Invoke-QmpCommand -Session $P.Session -Command migrate-set-parameters -Arguments @{ 'max-bandwidth' = $savedBandwidth } }
        Assert-NothingAtSite $lostSite
        # The roll-back left the survivor as it was before the resume: running alone.
        if (-not $received.Rollback) { throw 'The failed resume carries no roll-back result.' }
        if (-not $received.Rollback.Complete) { throw "The roll-back of the failed resume was incomplete: $($received.Rollback.Failures -join '; ')" }
        $st = Get-ColoStatus -Node $P
        Note "survivor after the failed resume: $($st.Protection), $($st.RunState), mode $($st.Mode): $($st.Message)"
        if ($st.RunState -ne 'running') { throw "The survivor does not run after the failed resume: $($st.RunState)." }
        if ($st.Protection -ne 'Unprotected') { throw "The survivor reads $($st.Protection) after the failed resume, not Unprotected: $($st.Message)" }
        Wait-Acks 5 -what 'writes after the failed resume'
        $null = Test-Survivor "after the secondary died $what"
        $script:dead = $S
        Invoke-Reprotect
    }

    function Start-SecondaryJob {
        # A new secondary where the primary was lost, started in the background; returns once its
        # QEMU exists (pid file written).
        $job = Start-CmdletJob { param($c, $site) Start-ColoSecondary -Config $c -Site $site -ErrorAction Stop } @($cfg, "$($dead.Site)")
        $script:newPid = Wait-SitePid "$($dead.Site)" -notPid $dead.ProcessId
        return $job
    }

    function Start-SecondaryUntilLaunched {
        Invoke-PrimaryLoss
        $client.Reconnect()
        Wait-Acks 3
        Start-SecondaryJob
    }

    function Stop-SecondaryStartMidway($job) {
        # Freezes the new secondary's QEMU while its start is still under way, and returns the job
        # of that start. Seeing the pid file and killing can take longer than the rest of a start on
        # a loaded machine (the start then rightly reports success, and the case tested nothing).
        # Every later step of a start is a QMP command, so a frozen QEMU holds the start; a start
        # that had its last reply before the freeze has returned within the pause below. Such a
        # try does not count: its node is stopped and the start begins again.
        for ($try = 1; ; $try++) {
            & kill -STOP $script:newPid
            Start-Sleep -Milliseconds 500
            if ($job.State -eq 'Running') { return $job }
            & kill -CONT $script:newPid
            $early = Receive-CmdletJob $job
            Note "try ${try}: the start ended before its QEMU froze ($($early.Outcome)); starting again"
            if ($early.Output) { Stop-ColoNode -Node $early.Output -Confirm:$false }
            if ($try -ge 3) { throw 'Three starts of the secondary ended before their QEMU could be frozen.' }
            $job = Start-SecondaryJob
        }
    }

    switch ($Scenario) {
        'Proof' {
            # The primary and the secondary die in turn, so each site loses each role: primary A,
            # secondary A, primary B, secondary B, ...
            for ($i = 1; $i -le $Failovers; $i++) {
                if ($i % 2 -eq 1) { Invoke-PrimaryLoss } else { Invoke-SecondaryLoss }
                Invoke-Reprotect
            }
        }
        'LinkCut' {
            if (-not $SiteNamespace) { throw 'LinkCut needs -SiteNamespace (two site namespaces and a link to cut).' }
            Assert-NotHung $P $mark
            $before = $client.AckCount
            $ackedBefore = $client.LastAcked
            Note "cutting the link between the sites (cpla down in $nsA)"
            Invoke-Ip -n $nsA link set cpla down
            # Watch for 15 s: who answers the client, and what each side thinks it is.
            $samples = @()
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            for ($i = 0; $watch.Elapsed.TotalSeconds -lt 15; $i++) {
                Start-Sleep -Seconds 1
                $sa = Get-ColoStatus -Node $P
                $sb = Get-ColoStatus -Node $S
                $samples += [ordered]@{ t = [math]::Round($watch.Elapsed.TotalSeconds, 1); acks = $client.AckCount - $before; A = "$($sa.Protection)/$($sa.Mode)/$($sa.RunState)"; B = "$($sb.Protection)/$($sb.Mode)/$($sb.RunState)" }
                if ($sb.Mode -ne 'secondary') { throw "The secondary left COLO on its own during the cut (mode $($sb.Mode)): two sides could answer as primary." }
            }
            $acksDuringCut = $client.AckCount - $before
            $pe = @(Get-QmpEvent -Session $P.Session -AfterSequence $mark | Where-Object Name -in 'STOP', 'RESUME' | ForEach-Object { "$($_.Name) $($_.ReceivedAt.ToString('HH:mm:ss.fff'))" })
            $result.linkCut = [ordered]@{ acksDuringCut = $acksDuringCut; lastAckedBeforeCut = $ackedBefore; primaryEvents = $pe; samples = $samples }
            Note ("during the cut: " + ($samples | ForEach-Object { "$($_.t)s acks+$($_.acks) A=$($_.A) B=$($_.B)" }) -join '; ')
            # The operator's way out: fence the primary, fail over on the secondary, move the network.
            Invoke-PrimaryLoss -CheckpointExpected
            Note 'restoring the link'
            Invoke-Ip -n $nsA link set cpla up
            Invoke-Reprotect
        }
        'SecondaryKilled' { Invoke-SecondaryLoss; Invoke-Reprotect }
        'Guarded' { . (Join-Path $PSScriptRoot 'GuardedCycles.ps1'); Invoke-GuardedCycles }
        'GuardedFaults' { . (Join-Path $PSScriptRoot 'GuardedFaults.ps1'); Invoke-GuardedFaults }
        'PrimaryKilledDuringCheckpoint' { Invoke-PrimaryLoss -DuringCheckpoint; Invoke-Reprotect }
        'SecondaryKilledDuringCheckpoint' { Invoke-SecondaryLoss -DuringCheckpoint; Invoke-Reprotect }
        'PrimaryFrozen' { Invoke-PrimaryLoss 'STOP'; Invoke-Reprotect }
        'SecondaryFrozen' { Invoke-SecondaryLoss 'STOP'; Invoke-Reprotect }
        'SecondaryKilledStarting' {
            $job = Stop-SecondaryStartMidway (Start-SecondaryUntilLaunched)
            $site = "$($dead.Site)"
            & kill -KILL $newPid
            $r = Receive-CmdletJob $job
            Add-Fault 'while the secondary is starting' 'secondary' $r.Outcome
            if ($r.Outcome -notlike 'failed: *') { throw 'Start-ColoSecondary reported success although its QEMU was killed while it started.' }
            Assert-NothingAtSite $site
            $st = Get-ColoStatus -Node $P
            Note "survivor after the failed secondary start: $($st.Protection), $($st.RunState)"
            if ($st.RunState -ne 'running') { throw "The survivor does not run: $($st.RunState)." }
            Wait-Acks 5 -what 'writes after the new secondary died'
            $null = Test-Survivor 'after the new secondary died while starting'
            Invoke-Reprotect
        }
        'PrimaryKilledStarting' {
            $job = Start-SecondaryUntilLaunched
            $lostSite = "$($P.Site)"
            Stop-Hard $P
            $r = Receive-CmdletJob $job
            Add-Fault 'while the secondary is starting' 'primary' $r.Outcome
            $nodes[$lostSite] = $null
            # The new secondary (started or not) never received a machine: it cannot serve.
            if ($r.Output) { Stop-ColoNode -Node $r.Output }
            Assert-NothingAtSite "$($dead.Site)"
            Invoke-ColdStart $lostSite
        }
        { $_ -like '*KilledDuringM*' } {
            $victim, $phase = $Scenario -split 'KilledDuring'
            Invoke-ResumeFault -Victim $victim -Phase $phase
        }
        { $_ -like 'FirstStart*' } {
            # The second start protected the pair; it serves and fails over like any pair.
            Invoke-PrimaryLoss
            Invoke-Reprotect
        }
    }

    if ($client) { $client.Stop() }
    if ($P -and $P.IsProcessAlive) { Update-Checkpoint $P $mark }
    # Checkpoints are COLO's normal work with this guest: a run without one did not test COLO.
    if ($result.checkpoints -eq 0) { throw 'No checkpoint happened (no STOP followed by RESUME on any primary): the run did not exercise COLO''s checkpoints.' }
    if ($Tls -and $result.tls.encryptedSamples -eq 0) { throw 'TLS was asked for, but Get-ColoStatus never showed a protected pair with its migration and NBD links encrypted.' }
    $survivor = $P
    foreach ($n in @($nodes.A, $nodes.B)) { if ($n -and $n.IsProcessAlive) { Stop-ColoNode -Node $n } }
    # Nothing may be left running by the scenario itself (the clean-up below is only a safety net).
    $left = @(Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$WorkDirectory*" })
    $result.qemuLeftRunning = $left.Count
    if ($left.Count -gt 0) { throw "QEMU still runs after the scenario: $($left.Id -join ', ')." }
    if (-not $coldStarted) {
        $off = Test-DiskOffline $cfg.DiskPathOf($survivor.Site)
        $result.offlineCheck = $off
        if ($off.missing -gt 0) { throw "Offline, the survivor's disk lacks $($off.missing) acknowledged writes." }
        if ($S) {
            # The pair ended protected: the secondary's disk (parent of its overlays, fed by the
            # primary's replication over NBD) must hold them all too.
            $off2 = Test-DiskOffline $cfg.DiskPathOf($S.Site)
            $result.offlineCheckSecondary = $off2
            if ($off2.missing -gt 0) { throw "Offline, the secondary's disk lacks $($off2.missing) acknowledged writes." }
        }
    }
    $result.passed = $true
    $exit = 0
}
catch {
    $result.error = "$($_.Exception.Message) (at $($_.InvocationInfo.PositionMessage))"
    Note "FAILED: $($_.Exception.Message)"
    $exit = 1
}
finally {
    if ($client) {
        $client.Stop()
        $acks = $client.Acks()
        $result.acknowledged = $acks.Count
        $result.longestClientWaitMs = if ($acks) { [math]::Round(($acks | Measure-Object WaitMs -Maximum).Maximum, 1) } else { 0 }
        $result.connections = $client.Connections
        $result.clientIoErrors = $client.IoErrors
        $result.clientEvents = @($client.Events() | Select-Object -Last 40)
    }
    # The guarded scenario's guards and witness, when it failed part-way.
    if ($script:guards) { $script:guards.Values | ForEach-Object { if (-not $_.HasExited) { $_.Kill($true); $null = $_.WaitForExit(10000) } } }
    if ($script:etcd -and -not $script:etcd.Process.HasExited) { $script:etcd.Process.Kill($true); $null = $script:etcd.Process.WaitForExit(10000) }
    if ($cfg) {
        # Nothing may keep running: kill whatever QEMU still has this work directory on its command line.
        Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$WorkDirectory*" } | ForEach-Object {
            & kill -KILL $_.Id; $null = $_.WaitForExit(10000)
        }
        Get-QmpSession | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    }
    if ($exit -ne 0) {
        # Keep QEMU's logs (with the COLO trace) of a failed run next to its result: each site's
        # current one and the one of the QEMU before it.
        $keep = "$ResultPath.qemu"
        $null = New-Item -ItemType Directory -Force -Path $keep
        foreach ($site in 'A', 'B') {
            Get-ChildItem (Split-Path $cfg.QemuLogOf($site)) -Filter "$(Split-Path -Leaf $cfg.QemuLogOf($site))*" -ErrorAction Ignore |
                ForEach-Object { Copy-Item $_.FullName -Destination (Join-Path $keep "$site-$($_.Name)") }
        }
    }
    if ($checkpointDurations.Count) {
        $sorted = @($checkpointDurations | Sort-Object)
        $result.checkpointMs = [ordered]@{ count = $sorted.Count; median = [math]::Round($sorted[[int][math]::Floor($sorted.Count / 2)], 1); p90 = [math]::Round($sorted[[int][math]::Floor($sorted.Count * 0.9)], 1); max = [math]::Round($sorted[-1], 1) }
    }
    $result.durationSeconds = [math]::Round($clockAll.Elapsed.TotalSeconds, 1)
    $null = New-Item -ItemType Directory -Force -Path (Split-Path $ResultPath)
    $result | ConvertTo-Json -Depth 6 | Set-Content -Path $ResultPath
}
exit $exit
