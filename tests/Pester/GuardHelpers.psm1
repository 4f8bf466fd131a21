# Fixtures of the guard suite: a one-member etcd on loopback, guards as their own pwsh processes,
# and a sampler of both QEMUs over their second (watch) QMP monitors. Everything started is stopped.

function Start-TestEtcd {
    param([Parameter(Mandatory)] [string] $Directory, [Parameter(Mandatory)] [int] $Port, [string] $Address = '127.0.0.3')
    $client = "http://${Address}:$Port"; $peer = "http://${Address}:$($Port + 1)"
    $psi = [System.Diagnostics.ProcessStartInfo]::new('etcd')
    foreach ($a in '--name', 'w', '--data-dir', "$Directory/etcd", '--listen-client-urls', $client, '--advertise-client-urls', $client,
        '--listen-peer-urls', $peer, '--initial-advertise-peer-urls', $peer, '--initial-cluster', "w=$peer", '--log-level', 'error') { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.BeginErrorReadLine(); $p.BeginOutputReadLine()
    $deadline = [DateTime]::UtcNow.AddSeconds(15)
    while ($true) {
        try { $null = Invoke-RestMethod -Method Post -Uri "$client/v3/kv/range" -Body '{"key":"YQ=="}' -TimeoutSec 1; break }
        catch { if ($p.HasExited -or [DateTime]::UtcNow -gt $deadline) { throw "etcd did not start on $client" }; Start-Sleep -Milliseconds 100 }
    }
    [pscustomobject]@{ Process = $p; Url = $client }
}

function Stop-TestProcess {
    param($Process)
    if ($Process -and -not $Process.HasExited) { $Process.Kill($true); $null = $Process.WaitForExit(10000) }
}

function Start-TestGuard {
    # Environment: extra variables for the guard's process (the crash seam COLOPS_TEST_GUARD_DIE_AT).
    param([Parameter(Mandatory)] [string] $ConfigPath, [Parameter(Mandatory)] [string] $Site, [Parameter(Mandatory)] [string] $LogPath, [hashtable] $Environment = @{})
    $manifest = if ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    $pwsh = (Get-Process -Id $PID).Path
    $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh)
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "Import-Module '$manifest'; Start-ColoGuard -ConfigPath '$ConfigPath' -Site $Site -LogPath '$LogPath' -Confirm:`$false | Out-Null") { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = "$($Environment[$k])" }
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.BeginErrorReadLine(); $p.BeginOutputReadLine()
    $p
}

function Get-Sample {
    # One look at a QEMU over its watch monitor: $null when it does not answer.
    param([Parameter(Mandatory)] $Config, [Parameter(Mandatory)] [string] $Site, [hashtable] $Sessions)
    $socket = $Config.WatchSocketOf($Site)
    $s = $Sessions[$Site]
    try {
        if (-not $s -or "$($s.State)" -ne 'Running') {
            if (-not (Test-Path $socket)) { return $null }
            $s = $Sessions[$Site] = Connect-QmpSession -Path $socket -TimeoutSec 1 -CommandTimeoutSec 1 -ErrorAction Stop
        }
        $run = Invoke-QmpCommand -Session $s -Command query-status -ErrorAction Stop
        $colo = Invoke-QmpCommand -Session $s -Command query-colo-status -ErrorAction Stop
        [pscustomobject]@{ Site = $Site; Status = "$($run.status)"; Mode = "$($colo.mode)" }
    }
    catch { if ($s) { $s | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore }; $Sessions[$Site] = $null; $null }
}

function Watch-Pair {
    <# Samples both QEMUs every 100 ms until the condition holds or the time runs out; throws at once when both run alone (two primaries). #>
    param([Parameter(Mandatory)] $Config, [Parameter(Mandatory)] [scriptblock] $Until, [int] $TimeoutSec = 20, [hashtable] $Sessions = @{})
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $count = 0
    while ($clock.Elapsed.TotalSeconds -lt $TimeoutSec) {
        $a = Get-Sample $Config A $Sessions; $b = Get-Sample $Config B $Sessions; $count++
        if ($a -and $b -and $a.Mode -eq 'none' -and $a.Status -eq 'running' -and $b.Mode -eq 'none' -and $b.Status -eq 'running') {
            throw "Two primaries at $([math]::Round($clock.Elapsed.TotalSeconds, 2)) s: both QEMUs run out of COLO."
        }
        if (& $Until $a $b) { return [pscustomobject]@{ Seconds = $clock.Elapsed.TotalSeconds; Samples = $count; A = $a; B = $b } }
        Start-Sleep -Milliseconds 100
    }
    [pscustomobject]@{ Seconds = $null; Samples = $count; A = $a; B = $b }
}

Export-ModuleMember -Function Start-TestEtcd, Stop-TestProcess, Start-TestGuard, Get-Sample, Watch-Pair
