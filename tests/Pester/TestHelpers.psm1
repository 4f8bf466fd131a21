# Shared fixtures of the Pester suites: importing the staged module, private temp folders and
# QEMU processes that are always cleaned up.

$script:Started = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()

function Import-ColoPSUnderTest {
    # The staged module (build.ps1 sets COLOPS_MODULE), never bin/: tests see what users get.
    $manifest = if ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    if (-not (Get-Module ColoPS)) { Import-Module $manifest -Global -Force -ErrorAction Stop }
}

function New-TestDirectory {
    # Short and private: unix socket paths are limited to 107 bytes, and QMP sockets should not be reachable by others.
    $path = Join-Path '/tmp' ('colops-t-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
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

Export-ModuleMember -Function Import-ColoPSUnderTest, New-TestDirectory, Start-TestQemu, Stop-TestQemu, Stop-AllTestQemu, Get-QemuProcessUnder
