# The proof's network and its runner: a network namespace per run with a bridge (the client's side,
# 10.77.0.1) and two taps, one per site; the proof script runs inside it with `ip netns exec`.

function Test-ProofPrerequisite {
    # The reason the proof cannot run here, or $null.
    if (-not $IsLinux) { return 'the proof needs Linux' }
    if ((& id -u) -ne '0') { return 'the proof needs root (network namespaces, taps, apt-get download)' }
    foreach ($tool in 'ip', 'qemu-system-x86_64', 'qemu-img', 'apt-get', 'apt-cache', 'dpkg-deb', 'xz', 'gzip') {
        if (-not (Get-Command $tool -ErrorAction Ignore)) { return "the proof needs $tool" }
    }
    if (-not (Test-Path /dev/net/tun)) { return 'the proof needs /dev/net/tun' }
    $null
}

function New-ProofNetwork {
    <#
    One namespace (the client's and, without -SplitSites, both sites'): bridge 10.77.0.1 and a tap per
    site. With -SplitSites each site gets a namespace of its own (<ns>-a, <ns>-b) holding its tap,
    bridged to the client namespace by a veth pair whose client end has the tap's name there, and the
    two sites are joined by one veth link (10.78.0.1 <-> 10.78.0.2) that a test can cut. -Witness
    (with -SplitSites) adds a witness namespace <ns>-w joined to each site by a link of its own
    (cpwa: 10.79.1.2 in site A, 10.79.1.1 in the witness; cpwb: 10.79.2.2 / 10.79.2.1); it does not
    forward, so the sites meet only on their own link.
    #>
    param([Parameter(Mandatory)] [string] $Namespace, [string] $Bridge = 'cpbr0', [string[]] $Tap = @('cpta', 'cptb'), [switch] $SplitSites, [switch] $Witness)
    if ($Witness -and -not $SplitSites) { throw 'New-ProofNetwork -Witness needs -SplitSites (the witness is reached from the site namespaces).' }
    Remove-ProofNetwork -Namespace $Namespace
    $steps = @(
        @('netns', 'add', $Namespace),
        @('-n', $Namespace, 'link', 'set', 'lo', 'up'),
        @('-n', $Namespace, 'link', 'add', $Bridge, 'type', 'bridge'),
        @('-n', $Namespace, 'link', 'set', $Bridge, 'address', '52:54:00:77:00:01'),
        @('-n', $Namespace, 'addr', 'add', '10.77.0.1/24', 'dev', $Bridge),
        @('-n', $Namespace, 'link', 'set', $Bridge, 'up')
    )
    if (-not $SplitSites) {
        foreach ($t in $Tap) {
            $steps += , @('-n', $Namespace, 'tuntap', 'add', $t, 'mode', 'tap')
            $steps += , @('-n', $Namespace, 'link', 'set', $t, 'up')
        }
    }
    else {
        $sites = @(@{ Ns = "$Namespace-a"; Tap = $Tap[0]; Ip = '10.78.0.1/24'; Link = 'cpla'; Port = 'cpva' },
            @{ Ns = "$Namespace-b"; Tap = $Tap[1]; Ip = '10.78.0.2/24'; Link = 'cplb'; Port = 'cpvb' })
        foreach ($x in $sites) {
            $steps += , @('netns', 'add', $x.Ns)
            $steps += , @('-n', $x.Ns, 'link', 'set', 'lo', 'up')
            $steps += , @('-n', $x.Ns, 'tuntap', 'add', $x.Tap, 'mode', 'tap')
            $steps += , @('-n', $x.Ns, 'link', 'add', 'cpsbr', 'type', 'bridge')
            # The site's port towards the client namespace; its peer there carries the tap's name.
            $steps += , @('-n', $Namespace, 'link', 'add', $x.Tap, 'type', 'veth', 'peer', 'name', $x.Port, 'netns', $x.Ns)
            $steps += , @('-n', $x.Ns, 'link', 'set', $x.Tap, 'master', 'cpsbr')
            $steps += , @('-n', $x.Ns, 'link', 'set', $x.Port, 'master', 'cpsbr')
            foreach ($l in $x.Tap, $x.Port, 'cpsbr') { $steps += , @('-n', $x.Ns, 'link', 'set', $l, 'up') }
            $steps += , @('-n', $Namespace, 'link', 'set', $x.Tap, 'up')
        }
        # The link between the sites.
        $steps += , @('-n', $sites[0].Ns, 'link', 'add', 'cpla', 'type', 'veth', 'peer', 'name', 'cplb', 'netns', $sites[1].Ns)
        foreach ($x in $sites) {
            $steps += , @('-n', $x.Ns, 'addr', 'add', $x.Ip, 'dev', $x.Link)
            $steps += , @('-n', $x.Ns, 'link', 'set', $x.Link, 'up')
        }
        if ($Witness) {
            $w = "$Namespace-w"
            $steps += , @('netns', 'add', $w)
            $steps += , @('-n', $w, 'link', 'set', 'lo', 'up')
            foreach ($x in @(@{ Ns = $sites[0].Ns; Link = 'cpwa'; Net = '10.79.1' }, @{ Ns = $sites[1].Ns; Link = 'cpwb'; Net = '10.79.2' })) {
                $steps += , @('-n', $x.Ns, 'link', 'add', $x.Link, 'type', 'veth', 'peer', 'name', "$($x.Link)0", 'netns', $w)
                $steps += , @('-n', $x.Ns, 'addr', 'add', "$($x.Net).2/24", 'dev', $x.Link)
                $steps += , @('-n', $w, 'addr', 'add', "$($x.Net).1/24", 'dev', "$($x.Link)0")
                $steps += , @('-n', $x.Ns, 'link', 'set', $x.Link, 'up')
                $steps += , @('-n', $w, 'link', 'set', "$($x.Link)0", 'up')
            }
        }
    }
    foreach ($s in $steps) {
        $out = & ip @s 2>&1
        if ($LASTEXITCODE -ne 0) { throw "ip $($s -join ' ') failed: $out" }
    }
}

function Remove-ProofNetwork {
    param([Parameter(Mandatory)] [string] $Namespace)
    # QEMUs still inside would keep their taps: kill them first (only those in this namespace).
    $pids = & ip netns pids $Namespace 2>$null
    foreach ($p in $pids) { if ($p -match '^\d+$') { & kill -KILL $p 2>$null } }
    foreach ($n in $Namespace, "$Namespace-a", "$Namespace-b", "$Namespace-w") {
        foreach ($p in (& ip netns pids $n 2>$null)) { if ($p -match '^\d+$') { & kill -KILL $p 2>$null } }
        if ((& ip netns list 2>$null) -match "^$([regex]::Escape($n))(\s|$)") { & ip netns del $n 2>&1 | Out-Null }
    }
}

function Invoke-ColoProofRun {
    <# Runs tests/guest/Invoke-ColoProof.ps1 inside the namespace; returns its result object (and ExitCode). #>
    param(
        [Parameter(Mandatory)] [string] $Namespace,
        [Parameter(Mandatory)] [string] $Scenario,
        [Parameter(Mandatory)] [string] $WorkDirectory,
        [Parameter(Mandatory)] [string] $ResultPath,
        [int] $Failovers = 1,
        [int] $PortBase = 51000,
        # MiB of guest RAM the guest keeps rewriting (longer checkpoints, for the cases that strike one).
        [int] $DirtyMiB = 0,
        [string] $LogPath,
        [switch] $SplitSites,
        # The module the run imports; by default the one under test (COLOPS_MODULE) or the staged build.
        [string] $ModulePath,
        # For the demo: Get-ColoStatus tables at each stage, and the run's output on the console instead of in a log.
        [switch] $ShowStatus,
        # Every COLO link over TLS (certificates by New-ColoCertificate).
        [switch] $Tls
    )
    $pwsh = if (Test-Path (Join-Path $PSHOME 'pwsh')) { Join-Path $PSHOME 'pwsh' } else { (Get-Process -Id $PID).Path }
    $script = Join-Path $PSScriptRoot '../guest/Invoke-ColoProof.ps1'
    $module = if ($ModulePath) { $ModulePath } elseif ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    Remove-Item $ResultPath -ErrorAction Ignore
    $split = @(if ($SplitSites) { '-SiteNamespace', "$Namespace-a,$Namespace-b" }) + @(if ($Tls) { '-Tls' })
    if (-not $LogPath) { $LogPath = "$ResultPath.log" }
    $argv = @('netns', 'exec', $Namespace, $pwsh, '-NoProfile', '-NonInteractive', '-File', $script, '-Scenario', $Scenario, '-Failovers', "$Failovers",
        '-WorkDirectory', $WorkDirectory, '-ResultPath', $ResultPath, '-ModulePath', $module, '-PortBase', "$PortBase", '-DirtyMiB', "$DirtyMiB") + $split
    if ($ShowStatus) {
        # Start-Process keeps the console (and its colours) for the child.
        $code = (Start-Process -FilePath ip -ArgumentList ($argv + '-ShowStatus') -NoNewWindow -Wait -PassThru).ExitCode
    }
    else {
        & ip @argv *> $LogPath
        $code = $LASTEXITCODE
    }
    if (-not (Test-Path $ResultPath)) { throw "The proof wrote no result (exit $code). Log:`n$(Get-Content $LogPath -Raw)" }
    $r = Get-Content $ResultPath -Raw | ConvertFrom-Json
    $r | Add-Member -NotePropertyName ExitCode -NotePropertyValue $code -Force
    $r | Add-Member -NotePropertyName LogPath -NotePropertyValue $LogPath -Force
    $r
}

function Initialize-ProofSuite {
    # What every real-guest suite sets up first: the results folder, and the guest (a fixture built
    # once from Debian packages, cached in out/guest). Error is why the guest cannot be had here.
    $results = Join-Path $PSScriptRoot '../../out/TestResults'
    $null = New-Item -ItemType Directory -Force -Path $results
    $guest = $null; $why = $null
    try { $guest = & (Join-Path $PSScriptRoot '../guest/Build-TestGuest.ps1') }
    catch { $why = "the test guest cannot be built here (apt-get download of the Debian kernel and busybox-static failed?): $($_.Exception.Message)" }
    [pscustomobject]@{ Results = (Resolve-Path $results).Path; Guest = $guest; Error = $why }
}

Export-ModuleMember -Function Test-ProofPrerequisite, New-ProofNetwork, Remove-ProofNetwork, Invoke-ColoProofRun, Initialize-ProofSuite
