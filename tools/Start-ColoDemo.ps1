<#
.SYNOPSIS
    The main job on an embedded default: a COLO pair on loopback, its status, a failover and a
    re-protection, then everything cleaned up.

.DESCRIPTION
    Site A is 127.0.0.1 and site B 127.0.0.2, both on this machine, with work directories under a
    private temporary folder. Run it through `./build.ps1 Demo`, which builds the module and
    installs QEMU first.

    With root, a tun device and apt access, the pair runs the test guest (tests/guest: the Debian
    kernel and busybox, built once into out/guest) in a network namespace made for the demo, and a
    client writes numbered records to it through colo-compare while the primary is killed, the
    secondary takes over and the pair is protected again; the survivor must hold every write the
    client had answered (tests/guest/Invoke-ColoProof.ps1, one failover, with status tables).
    Otherwise, or with -NoGuest, the pair runs without a guest OS: SeaBIOS idles in both VMs,
    which is enough to show every step of the procedure.
#>
[CmdletBinding()]
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ColoPS/ColoPS.psd1'),
    [int] $PortBase = 9000,
    [switch] $NoGuest
)

$ErrorActionPreference = 'Stop'
$ModulePath = (Resolve-Path $ModulePath).Path

function Invoke-GuestDemo {
    # $null when the guest demo ran; otherwise why it cannot run here.
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'tests/Pester/ProofHelpers.psm1') -Force
    $why = Test-ProofPrerequisite
    if ($why) { return $why }
    try { $null = & (Join-Path $repo 'tests/guest/Build-TestGuest.ps1') }
    catch { return "the test guest cannot be built here: $($_.Exception.Message)" }

    $root = Join-Path ([System.IO.Path]::GetTempPath()) ('colops-demo-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
    $ns = 'colops-demo-' + $root.Substring($root.Length - 6)
    $null = New-Item -ItemType Directory -Path $root
    try {
        $null = New-ProofNetwork -Namespace $ns
        Write-Host "A COLO pair running the test guest in network namespace $ns; a client writes to it through colo-compare." -ForegroundColor Cyan
        $r = Invoke-ColoProofRun -Namespace $ns -Scenario Proof -Failovers 1 -ShowStatus -PortBase $PortBase `
            -WorkDirectory "$root/w" -ResultPath "$root/demo.json" -ModulePath $ModulePath
        Write-Host ''
        if ($r.ExitCode -ne 0 -or -not $r.passed) { throw "The demo failed (exit $($r.ExitCode)): $($r.error)" }
        Write-Host ("Client: {0} writes acknowledged, {1} lost; it waited at most {2} ms across the failover. QEMU {3} ({4})." -f
            $r.acknowledged, $r.lost, $r.longestFailoverWaitMs, $r.qemuVersion, $r.accelerator) -ForegroundColor Green
    }
    finally {
        Write-Host ''
        Write-Host '== Cleaning up' -ForegroundColor Cyan
        Remove-ProofNetwork -Namespace $ns
        $left = Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$root*" }
        if ($left) { $left | Stop-Process -Force }
        Remove-Item $root -Recurse -Force -ErrorAction Ignore
        if ($left) { throw "QEMU processes were left running: $($left.Id -join ', ')" }
        Write-Host 'No QEMU process, socket or namespace left behind.'
    }
    $null
}

if (-not $NoGuest) {
    $why = Invoke-GuestDemo
    if (-not $why) { return }
    Write-Warning "The demo runs without a guest OS: $why"
}

Import-Module $ModulePath

function Show-Pair {
    param([string] $Title, [object[]] $Node)
    Write-Host ''
    Write-Host "== $Title" -ForegroundColor Cyan
    $Node | Get-ColoStatus | Format-Table -AutoSize | Out-Host
}

$root = Join-Path ([System.IO.Path]::GetTempPath()) ('colops-demo-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
$null = New-Item -ItemType Directory -Path $root
$nodes = [System.Collections.Generic.List[object]]::new()
try {
    # The procedure's ports (9001, 9003, 9004, 9005, 9998, 9999) unless -PortBase moves them.
    $ports = @{ CompareIn = $PortBase + 1; Mirror = $PortBase + 3; Compare = $PortBase + 4; CompareOut = $PortBase + 5; Migration = $PortBase + 998; Nbd = $PortBase + 999 }
    # A checkpoint every 2 s, so the status tables show COLO at work (build.ps1 Demo runs QEMU 11,
    # the first whose checkpoints work under TCG; Get-Help about_ColoPS).
    $cfg = New-ColoConfig -Name demo -MemoryMB 256 -DiskSizeGB 1 -Ports $ports -CheckpointIntervalMs 2000 `
        -SiteA @{ Address = '127.0.0.1'; WorkDirectory = "$root/a" } `
        -SiteB @{ Address = '127.0.0.2'; WorkDirectory = "$root/b" }
    $cfg | Export-ColoConfig -Path "$root/demo.colo.json"
    Write-Host "Configuration written to $root/demo.colo.json"

    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $b = Start-ColoSecondary -Config $cfg -Site B
    $nodes.Add($b)
    $a = Start-ColoPrimary -Config $cfg -Site A -Secondary $b
    $nodes.Add($a)
    Show-Pair ("Protected pair, started in {0:0.0} s" -f $clock.Elapsed.TotalSeconds) $a, $b
    Start-Sleep -Seconds 5
    Show-Pair 'Five seconds later: the primary checkpoints' $a, $b

    Write-Host "The primary host dies (SIGKILL of pid $($a.ProcessId))." -ForegroundColor Yellow
    Stop-Process -Id $a.ProcessId -Force
    Wait-Process -Id $a.ProcessId -Timeout 10 -ErrorAction Ignore
    Show-Pair 'After the primary died' $b
    $clock.Restart()
    Invoke-ColoFailover -Node $b -Confirm:$false | Out-Null
    Show-Pair ("After Invoke-ColoFailover ({0:0.00} s): B runs alone" -f $clock.Elapsed.TotalSeconds) $b

    $clock.Restart()
    $a = Start-ColoSecondary -Config $cfg -Site A
    $nodes.Add($a)
    Resume-ColoReplication -Node $b -Secondary $a -Confirm:$false | Out-Null
    Show-Pair ("Re-protected in {0:0.0} s: B is the primary now, A the secondary" -f $clock.Elapsed.TotalSeconds) $b, $a
    Start-Sleep -Seconds 5
    Show-Pair 'Five seconds later: the new primary checkpoints' $b, $a
}
finally {
    Write-Host ''
    Write-Host '== Cleaning up' -ForegroundColor Cyan
    foreach ($n in $nodes) {
        if ($n.Role -ne 'Stopped') { Stop-ColoNode -Node $n -ErrorAction Continue }
    }
    Remove-Item $root -Recurse -Force -ErrorAction Ignore
    $left = Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$root*" }
    if ($left) { $left | Stop-Process -Force; throw "QEMU processes were left running: $($left.Id -join ', ')" }
    Write-Host 'No QEMU process and no socket left behind.'
}
