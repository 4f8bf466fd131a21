# Sites as hosts on one machine: network namespaces joined by a bridge, a QEMU wrapper that runs
# each site's QEMU in its site's namespace, and what a run can read back to show that each site
# really ran as a separate host would (Get-SiteTopology, Assert-SiteTopology). Used by the remote
# QMP suite, the TLS suites and the real-guest proof (tests/guest/Invoke-ColoProof.ps1).

function New-HostNetwork {
    <#
    Hosts on one Ethernet segment: a bridge in -SwitchNamespace, which may hold an address of its
    own on it (-SwitchAddress, as an operator's host does), and per -Member entry (Namespace,
    Address with its prefix length, Port) a namespace of its own joined to the bridge by a veth
    pair: -MemberDevice inside the member, Port on the bridge's side. Namespaces of the same names
    are removed first. Interface names live inside the namespaces, so they cannot collide with
    another suite's.
    #>
    param(
        [Parameter(Mandatory)] [string] $SwitchNamespace,
        [string] $SwitchAddress,
        [Parameter(Mandatory)] [hashtable[]] $Member,
        [string] $Bridge = 'hbr',
        [string] $MemberDevice = 'heth0'
    )
    Remove-HostNetwork -Namespace (@($SwitchNamespace) + @($Member.Namespace))
    $steps = @(
        @('netns', 'add', $SwitchNamespace),
        @('-n', $SwitchNamespace, 'link', 'set', 'lo', 'up'),
        @('-n', $SwitchNamespace, 'link', 'add', $Bridge, 'type', 'bridge'),
        @('-n', $SwitchNamespace, 'link', 'set', $Bridge, 'up')
    )
    if ($SwitchAddress) { $steps += , @('-n', $SwitchNamespace, 'addr', 'add', $SwitchAddress, 'dev', $Bridge) }
    foreach ($m in $Member) {
        $steps += , @('netns', 'add', $m.Namespace)
        $steps += , @('-n', $m.Namespace, 'link', 'set', 'lo', 'up')
        $steps += , @('-n', $SwitchNamespace, 'link', 'add', $m.Port, 'type', 'veth', 'peer', 'name', $MemberDevice, 'netns', $m.Namespace)
        $steps += , @('-n', $SwitchNamespace, 'link', 'set', $m.Port, 'master', $Bridge)
        $steps += , @('-n', $SwitchNamespace, 'link', 'set', $m.Port, 'up')
        $steps += , @('-n', $m.Namespace, 'addr', 'add', $m.Address, 'dev', $MemberDevice)
        $steps += , @('-n', $m.Namespace, 'link', 'set', $MemberDevice, 'up')
    }
    try {
        foreach ($s in $steps) {
            $out = & ip @s 2>&1
            if ($LASTEXITCODE -ne 0) { throw "ip $($s -join ' ') failed: $out" }
        }
    }
    catch {
        # Half a network is of no use and would be left behind: undo it before saying why.
        Remove-HostNetwork -Namespace (@($SwitchNamespace) + @($Member.Namespace))
        throw
    }
}

function Remove-HostNetwork {
    <# What still runs inside the namespaces (a QEMU, a tshark a suite left) is killed, then the namespaces go, with their links. #>
    param([Parameter(Mandatory)] [string[]] $Namespace)
    foreach ($n in $Namespace) {
        foreach ($p in (& ip netns pids $n 2>$null)) { if ($p -match '^\d+$') { & kill -KILL $p 2>$null } }
        if ((& ip netns list 2>$null) -match "^$([regex]::Escape($n))(\s|$)") { & ip netns del $n 2>&1 | Out-Null }
    }
}

function New-SiteQemuWrapper {
    <#
    A QEMU binary for a configuration's QemuBinary that runs each site's QEMU in its site's
    namespace: ColoPS starts QEMU in the caller's, and this script tells the sites apart by the
    "-name <Name>-A" / "-B" ColoPS gives them; anything else (a version probe) runs here. ip netns
    exec execs, so the pid file still names QEMU itself. Returns the script's path.
    #>
    param(
        [Parameter(Mandatory)] [string] $Path,
        [Parameter(Mandatory)] [string] $Name,
        [Parameter(Mandatory)] [string] $NamespaceA,
        [Parameter(Mandatory)] [string] $NamespaceB,
        [string] $Qemu = (Get-Command qemu-system-x86_64 -CommandType Application | Select-Object -First 1).Source
    )
    @"
#!/bin/sh
case " `$* " in
  *" -name $Name-A "*) exec ip netns exec $NamespaceA $Qemu "`$@" ;;
  *" -name $Name-B "*) exec ip netns exec $NamespaceB $Qemu "`$@" ;;
  *) exec $Qemu "`$@" ;;
esac
"@ | Set-Content -Path $Path
    chmod 755 $Path
    $Path
}

function Get-SiteTopology {
    <#
    Where each site of a split-site run really is: for each site its namespace, its address, the
    namespace its QEMU runs in, what listens in that namespace, the certificate folder its QEMU was
    given and the addresses that site's server certificate names.
    #>
    param([Parameter(Mandatory)] $Config, [Parameter(Mandatory)] [hashtable] $Nodes, [Parameter(Mandatory)] [string[]] $Namespace)
    $out = [ordered]@{}
    $i = 0
    foreach ($site in 'A', 'B') {
        $ns = $Namespace[$i++]
        $node = $Nodes[$site]
        $listening = @(& ip netns exec $ns ss -ltnH 2>$null | ForEach-Object { ($_ -split '\s+')[3] } | Where-Object { $_ })
        # QEMU's own command line: every dir= of its tls-creds-x509 objects.
        $argv = if ($node -and (Test-Path "/proc/$($node.ProcessId)/cmdline")) { (Get-Content "/proc/$($node.ProcessId)/cmdline" -Raw) -split "`0" } else { @() }
        $dirs = @($argv | Where-Object { $_ -like 'tls-creds-x509,*' } | ForEach-Object { if ($_ -match '(?:^|,)dir=([^,]+)') { $Matches[1] } } | Select-Object -Unique)
        $tls = if ($Config.Tls) { $Config.Tls.GetSite($site) } else { $null }
        $san = if ($tls) { (& openssl x509 -in (Join-Path $tls.CertificateDirectory 'server-cert.pem') -noout -ext subjectAltName 2>$null) -join ' ' } else { $null }
        $out[$site] = [ordered]@{
            namespace = $ns; address = $Config.GetSite($site).Address; qemuPid = $(if ($node) { $node.ProcessId } else { 0 })
            qemuNamespace = $(if ($node) { "$(& ip netns identify $node.ProcessId 2>$null)".Trim() } else { $null })
            listening = $listening; loopPorts = @($Config.Ports.CompareIn, $Config.Ports.CompareOut); certificateDirectory = $(if ($tls) { $tls.CertificateDirectory } else { $null }); qemuCertificateDirectories = $dirs; subjectAltName = $san
        }
    }
    $out
}

function Assert-SiteTopology {
    <#
    Pester assertions on Get-SiteTopology's account (live or read back from JSON): each site's QEMU
    in its site's namespace, listening (something, then) on its site's address only, the compare
    loops on the namespace's loopback and never on the site's address; with TLS, its QEMU given its
    own certificate folder only, whose server certificate names its address and not the other's.
    -Listening: ports each site must be seen listening on, so that an empty list cannot pass.
    #>
    param([Parameter(Mandatory)] $Topology, [Parameter(Mandatory)] [hashtable] $Namespace, [Parameter(Mandatory)] [hashtable] $Address, [hashtable] $Listening = @{})
    foreach ($site in 'A', 'B') {
        $t = $Topology.$site
        $other = if ($site -eq 'A') { 'B' } else { 'A' }
        Write-Host "site ${site}: QEMU $($t.qemuPid) in $($t.qemuNamespace) at $($t.address), listening $($t.listening -join ' '), certificates $($t.qemuCertificateDirectories -join ' ') ($($t.subjectAltName))"
        $t.qemuNamespace | Should -BeExactly $Namespace[$site] -Because "site $site's QEMU runs in its site's namespace"
        $t.address | Should -BeExactly $Address[$site]
        @($t.listening).Count | Should -BeGreaterThan 0
        foreach ($port in @($Listening[$site])) { if ($port) { @($t.listening) | Should -Contain "$($Address[$site]):$port" } }
        $loops = @($t.loopPorts | ForEach-Object { "127.0.0.1:$_" })
        @($t.listening | Where-Object { $_ -notlike "$($Address[$site]):*" -and $_ -notin $loops }) | Should -BeNullOrEmpty -Because "site $site listens on its own address only"
        @($t.listening | Where-Object { $_ -like "$($Address[$site]):*" -and [int]($_ -split ':')[-1] -in @($t.loopPorts) }) | Should -BeNullOrEmpty -Because 'the compare loops stay on loopback'
        if ($t.certificateDirectory) {
            @($t.qemuCertificateDirectories) | Should -BeExactly @($t.certificateDirectory) -Because "site $site's QEMU holds its own certificates only"
            $t.subjectAltName | Should -Match "IP Address:$([regex]::Escape($Address[$site]))\b"
            $t.subjectAltName | Should -Not -Match "IP Address:$([regex]::Escape($Address[$other]))\b"
        }
    }
}

Export-ModuleMember -Function New-HostNetwork, Remove-HostNetwork, New-SiteQemuWrapper, Get-SiteTopology, Assert-SiteTopology
