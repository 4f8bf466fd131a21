# Sites as network namespaces for the guard's partition cases and its benchmark: one namespace per
# site joined by one veth link (10.78.0.1 <-> 10.78.0.2), a witness namespace holding etcd with a
# veth to each site (10.79.1.1 for A, 10.79.2.1 for B; the witness does not forward, so the sites
# meet only on their own link). Each site's QEMU and guard run inside its namespace; the test
# process reaches them over their unix sockets only. Everything started is stopped by the caller's
# Remove-* in finally/AfterAll.

Import-Module (Join-Path $PSScriptRoot 'GuardHelpers.psm1')

function Invoke-SiteIp {
    param([Parameter(ValueFromRemainingArguments)] [string[]] $Arguments)
    $out = & ip @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "ip $($Arguments -join ' ') failed: $out" }
}

function New-GuardSiteNetwork {
    param([string] $Prefix = 'gs')
    $n = [pscustomobject]@{ A = "$Prefix-a"; B = "$Prefix-b"; W = "$Prefix-w"; Link = 'gsl-a'; WitnessLinkA = 'gsw-a'; WitnessLinkB = 'gsw-b' }
    Remove-GuardSiteNetwork $n
    foreach ($ns in $n.A, $n.B, $n.W) { Invoke-SiteIp netns add $ns; Invoke-SiteIp -n $ns link set lo up }
    Invoke-SiteIp -n $n.A link add gsl-a type veth peer name gsl-b netns $n.B
    Invoke-SiteIp -n $n.A addr add 10.78.0.1/24 dev gsl-a
    Invoke-SiteIp -n $n.B addr add 10.78.0.2/24 dev gsl-b
    Invoke-SiteIp -n $n.A link add gsw-a type veth peer name gsw-a0 netns $n.W
    Invoke-SiteIp -n $n.B link add gsw-b type veth peer name gsw-b0 netns $n.W
    Invoke-SiteIp -n $n.A addr add 10.79.1.2/24 dev gsw-a
    Invoke-SiteIp -n $n.W addr add 10.79.1.1/24 dev gsw-a0
    Invoke-SiteIp -n $n.B addr add 10.79.2.2/24 dev gsw-b
    Invoke-SiteIp -n $n.W addr add 10.79.2.1/24 dev gsw-b0
    foreach ($x in @(@($n.A, 'gsl-a'), @($n.B, 'gsl-b'), @($n.A, 'gsw-a'), @($n.B, 'gsw-b'), @($n.W, 'gsw-a0'), @($n.W, 'gsw-b0'))) {
        Invoke-SiteIp -n $x[0] link set $x[1] up
    }
    $n
}

function Remove-GuardSiteNetwork {
    param($Network)
    if (-not $Network) { return }
    foreach ($ns in $Network.A, $Network.B, $Network.W) {
        # Anything still inside (a QEMU, a guard, etcd) is killed first, frozen ones included.
        foreach ($p in (& ip netns pids $ns 2>$null)) { if ($p -match '^\d+$') { & kill -KILL $p 2>$null } }
        if ((& ip netns list 2>$null) -match "^$([regex]::Escape($ns))(\s|$)") { & ip netns del $ns 2>&1 | Out-Null }
    }
}

function Start-SiteEtcd {
    # One member in the witness namespace, answering on both sites' veths.
    param([Parameter(Mandatory)] $Network, [Parameter(Mandatory)] [string] $Directory, [int] $Port = 2379)
    $urls = @("http://10.79.1.1:$Port", "http://10.79.2.1:$Port")
    $peer = "http://127.0.0.1:$($Port + 1)"
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in 'netns', 'exec', $Network.W, 'etcd', '--name', 'w', '--data-dir', "$Directory/etcd", '--listen-client-urls', ($urls -join ','),
        '--advertise-client-urls', ($urls -join ','), '--listen-peer-urls', $peer, '--initial-advertise-peer-urls', $peer, '--initial-cluster', "w=$peer", '--log-level', 'error') { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.BeginErrorReadLine(); $p.BeginOutputReadLine()
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    foreach ($x in @(@($Network.A, $urls[0]), @($Network.B, $urls[1]))) {
        while ($true) {
            $null = & ip netns exec $x[0] curl -s -m 1 -X POST "$($x[1])/v3/kv/range" -d '{"key":"YQ=="}' 2>$null
            if ($LASTEXITCODE -eq 0) { break }
            if ($p.HasExited -or [DateTime]::UtcNow -gt $deadline) { Stop-TestProcess $p; throw "etcd did not answer on $($x[1]) from $($x[0])" }
            Start-Sleep -Milliseconds 100
        }
    }
    [pscustomobject]@{ Process = $p; Urls = $urls }
}

function Start-SiteGuard {
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string] $ConfigPath, [Parameter(Mandatory)] [string] $Site, [Parameter(Mandatory)] [string] $LogPath)
    $manifest = if ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    $pwsh = if (Test-Path (Join-Path $PSHOME 'pwsh')) { Join-Path $PSHOME 'pwsh' } else { (Get-Process -Id $PID).Path }
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    # ip netns exec execs pwsh: the process object is the guard itself.
    foreach ($a in 'netns', 'exec', $Namespace, $pwsh, '-NoProfile', '-NonInteractive', '-Command',
        "Import-Module '$manifest'; Start-ColoGuard -ConfigPath '$ConfigPath' -Site $Site -LogPath '$LogPath' -Confirm:`$false | Out-Null") { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.BeginErrorReadLine(); $p.BeginOutputReadLine()
    $p
}

function New-SitePair {
    <# A guest-less QEMU 11 pair (checkpoint every 2 s) with A in site A's namespace as primary, B as secondary, and a guard at each site. #>
    param([Parameter(Mandatory)] $Network, [Parameter(Mandatory)] $Etcd, [Parameter(Mandatory)] [string] $Directory,
        [Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [int] $PortBase, [string] $FencingHook)
    $dir = Join-Path $Directory $Name
    $null = New-Item -ItemType Directory $dir
    $pair = [pscustomobject]@{ Name = $Name; Dir = $dir; Network = $Network; Config = $null; Path = "$dir/$Name.colo.json"; GuardA = $null; GuardB = $null; Sessions = @{} }
    try {
        # ColoPS starts QEMU in the caller's namespace; this wrapper moves each site's QEMU into its site's.
        $real = (Get-Command qemu-system-x86_64 -CommandType Application | Select-Object -First 1).Source
        $wrapper = "$dir/qemu-in-site.sh"
        @"
#!/bin/sh
case " `$* " in
  *" -name $Name-A "*) exec ip netns exec $($Network.A) $real "`$@" ;;
  *" -name $Name-B "*) exec ip netns exec $($Network.B) $real "`$@" ;;
  *) exec $real "`$@" ;;
esac
"@ | Set-Content -Path $wrapper
        chmod 755 $wrapper
        $ports = @{ CompareIn = $PortBase + 1; Mirror = $PortBase + 3; Compare = $PortBase + 4; CompareOut = $PortBase + 5; Migration = $PortBase + 8; Nbd = $PortBase + 9 }
        $extra = @{ WitnessEndpoint = $Etcd.Urls; WitnessPair = "$Name-$(Get-Random)"; WitnessHeartbeatPort = $PortBase + 6 }
        if ($FencingHook) { $extra.FencingHook = $FencingHook }
        $pair.Config = New-ColoConfig -Name $Name -MemoryMB 128 -DiskSizeGB 1 -Ports $ports -CheckpointIntervalMs 2000 -QemuBinary $wrapper `
            -SiteA @{ Address = '10.78.0.1'; WorkDirectory = "$dir/a" } -SiteB @{ Address = '10.78.0.2'; WorkDirectory = "$dir/b" } @extra -ErrorAction Stop
        $pair.Config | Export-ColoConfig -Path $pair.Path
        $null = Start-ColoSecondary -Config $pair.Config -Site B -ErrorAction Stop
        $null = Start-ColoPrimary -Config $pair.Config -Site A -ErrorAction Stop
        # The guards need QEMU's main monitor, which serves one client.
        Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$dir*" } | Disconnect-QmpSession -Confirm:$false
        $pair.GuardA = Start-SiteGuard -Namespace $Network.A -ConfigPath $pair.Path -Site A -LogPath "$dir/A.guard.log"
        $pair.GuardB = Start-SiteGuard -Namespace $Network.B -ConfigPath $pair.Path -Site B -LogPath "$dir/B.guard.log"
        $pair
    }
    catch { Remove-SitePair $pair; throw }
}

function Wait-SitePairGuarded {
    # Both guards look, the primary owns epoch 1, and each hears the other's heartbeat.
    param([Parameter(Mandatory)] $Pair, [int] $TimeoutSec = 60)
    $w = Watch-SitePair -Pair $Pair -TimeoutSec $TimeoutSec -Until {
        $s = @(Get-ColoGuardStatus -Config $Pair.Config)
        $s.Count -eq 2 -and ($s | Where-Object State -eq 'Running').Count -eq 2 -and $s[0].Own -eq 'ProtectedPrimary' -and $s[1].Own -eq 'ProtectedSecondary' `
            -and $s[0].MyEpoch -ge 1 -and $s[1].MyEpoch -ge 1 -and $s[0].Detail -match '(peer: |; )heartbeat \d+ ms ago' -and $s[1].Detail -match '(peer: |; )heartbeat \d+ ms ago'
    }
    if ($null -eq $w.Seconds) {
        $s = Get-ColoGuardStatus -Config $Pair.Config
        throw "The pair was not guarded within $TimeoutSec s (A: $($s[0].Reason) / $($s[0].Detail); B: $($s[1].Reason) / $($s[1].Detail))"
    }
    $w
}

function Test-Sends {
    # A QEMU that may put packets on the network: running alone, or running as the COLO primary.
    param($Sample)
    $Sample -and $Sample.Status -eq 'running' -and $Sample.Mode -in 'none', 'primary'
}

function Watch-SitePair {
    <#
    Samples both QEMUs (GuardHelpers' Get-Sample over their watch monitors) until the condition
    holds or the time runs out. TwoPrimaries counts the samples where both may send; the caller
    asserts it is 0.
    #>
    param([Parameter(Mandatory)] $Pair, [Parameter(Mandatory)] [scriptblock] $Until, [int] $TimeoutSec = 20)
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $count = 0; $two = 0; $a = $null; $b = $null
    while ($clock.Elapsed.TotalSeconds -lt $TimeoutSec) {
        $a = Get-Sample $Pair.Config A $Pair.Sessions; $b = Get-Sample $Pair.Config B $Pair.Sessions; $count++
        if ((Test-Sends $a) -and (Test-Sends $b) -and ($a.Mode -eq 'none' -or $b.Mode -eq 'none')) { $two++ }
        if (& $Until $a $b) { return [pscustomobject]@{ Seconds = $clock.Elapsed.TotalSeconds; Samples = $count; TwoPrimaries = $two; A = $a; B = $b } }
        Start-Sleep -Milliseconds 100
    }
    [pscustomobject]@{ Seconds = $null; Samples = $count; TwoPrimaries = $two; A = $a; B = $b }
}

function Invoke-SiteFault {
    <# CutLink: the link between the sites. CutOff: site A loses the link and the witness. Freeze / Kill: every process in site A's namespace. #>
    param([Parameter(Mandatory)] $Network, [Parameter(Mandatory)] [ValidateSet('CutLink', 'CutOff', 'Freeze', 'Kill')] [string] $Fault)
    switch ($Fault) {
        'CutLink' { Invoke-SiteIp -n $Network.A link set $Network.Link down }
        'CutOff' { Invoke-SiteIp -n $Network.A link set $Network.Link down; Invoke-SiteIp -n $Network.A link set $Network.WitnessLinkA down }
        default {
            $signal = if ($Fault -eq 'Freeze') { '-STOP' } else { '-KILL' }
            $pids = @(& ip netns pids $Network.A 2>$null | Where-Object { $_ -match '^\d+$' })
            if ($pids.Count -lt 2) { throw "Site A should hold its QEMU and its guard; found pids: $($pids -join ', ')" }
            & kill $signal @pids
        }
    }
}

function Reset-SiteLink {
    param([Parameter(Mandatory)] $Network)
    & ip -n $Network.A link set $Network.Link up 2>$null
    & ip -n $Network.A link set $Network.WitnessLinkA up 2>$null
}

function Get-GuardDecision {
    <# The first decision in a guard's log that has one of the actions, after a time; $null when none within the timeout. #>
    param([Parameter(Mandatory)] [string] $LogPath, [Parameter(Mandatory)] [string[]] $Action, [DateTimeOffset] $After = [DateTimeOffset]::MinValue, [int] $TimeoutSec = 5)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    do {
        $hit = Get-Content $LogPath -ErrorAction Ignore | ConvertFrom-Json | Where-Object { @($_.Actions | Where-Object { $_ -in $Action }).Count -gt 0 -and [DateTimeOffset]$_.Time -ge $After } | Select-Object -First 1
        if ($hit) { return $hit }
        Start-Sleep -Milliseconds 100
    } while ([DateTime]::UtcNow -lt $deadline)
    $null
}

function Remove-SitePair {
    param($Pair)
    if (-not $Pair) { return }
    Stop-TestProcess $Pair.GuardA; Stop-TestProcess $Pair.GuardB
    $Pair.Sessions.Values | Where-Object { $_ } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$($Pair.Dir)*" } |
        ForEach-Object { & kill -KILL $_.Id 2>$null; $null = $_.WaitForExit(10000) }
    if ($Pair.Network) { Reset-SiteLink $Pair.Network }
}

Export-ModuleMember -Function New-GuardSiteNetwork, Remove-GuardSiteNetwork, Start-SiteEtcd, Start-SiteGuard, New-SitePair, Wait-SitePairGuarded, Watch-SitePair, Test-Sends, Invoke-SiteFault, Reset-SiteLink, Get-GuardDecision, Remove-SitePair
