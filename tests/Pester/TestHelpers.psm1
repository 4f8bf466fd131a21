# Shared fixtures of the Pester suites: importing the staged module, private temp folders and
# QEMU processes that are always cleaned up.

Import-Module (Join-Path $PSScriptRoot '../../tools/QemuFixture.psm1') -Force

$script:Started = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()

function Import-ColoPSUnderTest {
    # The staged module (build.ps1 sets COLOPS_MODULE), never bin/: tests see what users get.
    $manifest = if ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    if (-not (Get-Module ColoPS)) { Import-Module $manifest -Global -Force -ErrorAction Stop }
}

function New-TestDirectory {
    # Short and private: unix socket paths are limited to 107 bytes, and QMP sockets should not be reachable by others.
    # build.ps1 Test names its run, so that what the run leaves behind can be found and nothing else.
    $run = if ($env:COLOPS_TEST_RUN) { "$env:COLOPS_TEST_RUN-" } else { '' }
    $path = Join-Path '/tmp' ('colops-t-' + $run + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $null = New-Item -ItemType Directory -Path $path
    if (-not $IsWindows) { chmod 700 $path }
    return $path
}

function Start-TestQemu {
    <# Starts a paused, display-less QEMU with QMP on a unix socket and waits for the socket. #>
    param(
        [Parameter(Mandatory)] [string] $Directory,
        [string] $Name = 'vm',
        [string] $Binary = 'qemu-system-x86_64',
        [string[]] $ExtraArgument = @(),
        [hashtable] $Environment = @{}
    )
    $socket = Join-Path $Directory "$Name.qmp"
    $argsList = @('-nodefaults', '-display', 'none', '-S', '-m', '64', '-machine', 'pc', '-accel', 'tcg',
        '-name', $Name, '-qmp', "unix:$socket,server=on,wait=off") + $ExtraArgument
    $psi = [System.Diagnostics.ProcessStartInfo]::new($Binary)
    foreach ($a in $argsList) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
    $process = [System.Diagnostics.Process]::Start($psi)
    $script:Started.Add($process)
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (-not (Test-Path $socket)) {
        if ($process.HasExited) { throw "QEMU exited at start: $($process.StandardError.ReadToEnd())" }
        if ([DateTime]::UtcNow -gt $deadline) { throw "QEMU did not create $socket in 20 s." }
        Start-Sleep -Milliseconds 50
    }
    [pscustomobject]@{ Process = $process; Socket = $socket; Directory = $Directory }
}

function Stop-TestQemu {
    param([Parameter(ValueFromPipeline)] $Qemu)
    process {
        if ($null -eq $Qemu) { return }
        $p = if ($Qemu -is [System.Diagnostics.Process]) { $Qemu } else { $Qemu.Process }
        if ($p -and -not $p.HasExited) {
            $p.Kill()
            $null = $p.WaitForExit(10000)
        }
    }
}

function Stop-AllTestQemu {
    foreach ($p in $script:Started) {
        if (-not $p.HasExited) { $p.Kill(); $null = $p.WaitForExit(10000) }
    }
    $script:Started.Clear()
}

function Get-QemuProcessUnder {
    # QEMU processes whose command line mentions a path under the given folder.
    param([Parameter(Mandatory)] [string] $Directory)
    Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$Directory*" }
}

function New-TestColoConfig {
    <#
    A pair on loopback (127.0.0.1 / 127.0.0.2, or the sites' -Address, as hosts in namespaces) with
    its own port range, so suites never collide with each other or with a real pair.
    #>
    param(
        [Parameter(Mandatory)] [string] $Directory,
        [Parameter(Mandatory)] [int] $PortBase,
        [string] $Name = 'vm',
        [hashtable] $Extra = @{},
        # The host's QEMU 7.2 (the compatibility subset): its primary deadlocks at a checkpoint
        # under TCG, so its pairs checkpoint only once an hour.
        [switch] $Qemu72,
        [string[]] $Address = @('127.0.0.1', '127.0.0.2')
    )
    $ports = @{ CompareIn = $PortBase + 1; Mirror = $PortBase + 3; Compare = $PortBase + 4; CompareOut = $PortBase + 5; Migration = $PortBase + 8; Nbd = $PortBase + 9 }
    # QEMU 11 (first on PATH in build.ps1 Test): a checkpoint every 2 s, so every protected pair checkpoints.
    $qemu = if ($Qemu72) { @{ CheckpointIntervalMs = 3600000; QemuBinary = (Get-Qemu72Binary); QemuImgBinary = '/usr/bin/qemu-img' } } else { @{ CheckpointIntervalMs = 2000 } }
    New-ColoConfig -Name $Name -MemoryMB 128 -DiskSizeGB 1 -Ports $ports @qemu `
        -SiteA @{ Address = $Address[0]; WorkDirectory = "$Directory/a" } `
        -SiteB @{ Address = $Address[1]; WorkDirectory = "$Directory/b" } @Extra -ErrorAction Stop
}

function Stop-QemuUnder {
    # Last-resort clean-up: kill every QEMU whose command line mentions the folder.
    param([Parameter(Mandatory)] [string] $Directory)
    Get-QemuProcessUnder -Directory $Directory | ForEach-Object {
        if ($_.Id) { Stop-Process -Id $_.Id -Force -ErrorAction Ignore; $_.WaitForExit(10000) | Out-Null }
    }
}

function Remove-TestDirectory {
    # End of a suite: whatever QEMU still runs from the folder is killed, then the folder goes.
    param([Parameter(Mandatory)] [AllowEmptyString()] [string] $Directory)
    if (-not $Directory) { return }
    Stop-QemuUnder -Directory $Directory
    if ($env:COLOPS_KEEP_TEST_DIRECTORY) { Copy-Item $Directory "$($env:COLOPS_KEEP_TEST_DIRECTORY)/$(Split-Path $Directory -Leaf)" -Recurse -Force -ErrorAction Ignore }
    Remove-Item $Directory -Recurse -Force -ErrorAction Ignore
}

function Get-TcpListener {
    # Listening TCP sockets of the given processes, as "address:port" strings.
    param([Parameter(Mandatory)] [int[]] $ProcessId)
    $lines = & ss -ltnpH 2>$null
    foreach ($line in $lines) {
        foreach ($id in $ProcessId) {
            if ($line -match "pid=$id,") { ($line -split '\s+')[3] }
        }
    }
}

function Get-Qemu72Binary {
    # The host's Debian 12 QEMU, whatever comes first on PATH (build.ps1 puts QEMU 11 there).
    if ($env:COLOPS_QEMU72) { return $env:COLOPS_QEMU72 }
    return '/usr/bin/qemu-system-x86_64'
}

function Get-Qemu10Fixture {
    # The real binary of a version that cannot be a COLO primary (tools/QemuFixture.psm1), cached under out/fixtures.
    Install-Qemu10Fixture -Directory (Join-Path $PSScriptRoot '../../out/fixtures/qemu10')
}

Export-ModuleMember -Function Import-ColoPSUnderTest, New-TestDirectory, Start-TestQemu, Stop-TestQemu, Stop-AllTestQemu, Get-QemuProcessUnder, New-TestColoConfig, Stop-QemuUnder, Remove-TestDirectory, Get-TcpListener, Get-Qemu10Fixture, Get-Qemu72Binary
