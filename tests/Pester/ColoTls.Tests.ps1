# TLS on every COLO link, against real QEMU 11 pairs whose sites run as two hosts: each site's QEMU
# in a network namespace of its own, the two joined only by a bridge (in a fourth namespace, the
# "switch"). On that link: a capture of each COLO port as it crosses between the hosts, and a rogue
# host (a third namespace) whose peers hold the wrong certificates, each refusal beside the same
# probe with the right certificate. The capture's positive control with a real guest is in
# ColoTlsGuest.Tests.ps1.

BeforeDiscovery {
    $script:HasTools = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command tshark -ErrorAction Ignore) -and [bool](Get-Command openssl -ErrorAction Ignore) -and [bool](Get-Command ip -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsProbes.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SiteHosts.psm1') -Force
    Import-ColoPSUnderTest

    function Assert-Protected {
        param($Primary, $Secondary)
        (Get-ColoStatus -Node $Primary).Protection | Should -Be 'Protected'
        (Get-ColoStatus -Node $Secondary).Protection | Should -Be 'Protected'
    }

    function Assert-LinksEncrypted {
        # What QEMU reports: the migration stream on both sides and the primary's NBD client.
        param($Primary, $Secondary)
        $p = (Get-ColoStatus -Node $Primary).Links
        ($p | Where-Object Name -eq 'Migration').Encrypted | Should -BeTrue
        ($p | Where-Object Name -eq 'Nbd').Encrypted | Should -BeTrue
        ($p | Where-Object Name -eq 'Nbd').Peer | Should -BeExactly "$($Secondary.Config.GetSite($Secondary.Site).Address):$($Secondary.Config.Ports.Nbd)"
        ((Get-ColoStatus -Node $Secondary).Links | Where-Object Name -eq 'Migration').Encrypted | Should -BeTrue
    }

    function Stop-Hard {
        param($Node)
        Stop-Process -Id $Node.ProcessId -Force
        Wait-Process -Id $Node.ProcessId -Timeout 10 -ErrorAction Ignore
    }

    function Write-Marker {
        # 64 KiB of 0x5a through the primary's quorum: the replication child sends it over NBD.
        # HMP qemu-io prints its report on QEMU's stdout (gone with -daemonize); the monitor answers
        # empty unless it fails. The write counts for the secondary only once a checkpoint took it:
        # a failover before that rolls the secondary's disk back to the last checkpoint (its hidden
        # overlay holds what the primary's writes replaced), so the marker waits for one.
        param($Primary, [string] $Offset)
        $out = Invoke-QmpCommand $Primary.Session human-monitor-command @{ 'command-line' = "qemu-io colo-disk0 `"write -P 0x5a $Offset 64k`"" } -ErrorAction Stop
        "$out" | Should -BeNullOrEmpty
        Wait-Checkpoint $Primary
    }

    function Test-MarkerOnDisk {
        # The marker reached the other site's disk file (the write did cross the NBD link). qemu-img
        # dd cannot start at an offset of a qcow2 image ("cannot skip to specified offset"), so it
        # copies from the start through the marker and the marker is read at the end of the copy.
        param([string] $Disk, [int] $OffsetMiB)
        $raw = "$Disk.$OffsetMiB.raw"
        & qemu-img dd -f qcow2 -O raw bs=64k "count=$(($OffsetMiB + 1) * 16)" "if=$Disk" "of=$raw" 2>&1 | Out-Null
        $bytes = [System.IO.File]::ReadAllBytes($raw)
        Remove-Item $raw
        $bytes.Length -eq ($OffsetMiB + 1) * 1MB -and @($bytes[($OffsetMiB * 1MB)..($OffsetMiB * 1MB + 64KB - 1)] | Where-Object { $_ -ne 0x5a }).Count -eq 0
    }

    function Get-CheckpointCount {
        # COLO checkpoints the primary made since this session started counting; waits for one more first.
        param($Primary)
        Wait-Checkpoint $Primary
        [long](Get-ColoStatus -Node $Primary).CheckpointCount
    }

    function Assert-Hosts {
        # Each QEMU in its site's namespace, listening on its site's address only (the compare loops
        # on loopback excepted): the primary's mirror port and the secondary's migration port at least.
        param($Primary, $Secondary)
        $t = Get-SiteTopology -Config $cfg -Nodes @{ "$($Primary.Site)" = $Primary; "$($Secondary.Site)" = $Secondary } -Namespace $ns.A, $ns.B
        Assert-SiteTopology -Topology $t -Namespace @{ A = $ns.A; B = $ns.B } -Address $address -Listening @{ "$($Primary.Site)" = $cfg.Ports.Mirror; "$($Secondary.Site)" = $cfg.Ports.Migration }
    }
}

Describe 'TLS on every COLO link' -Tag 'Tls', 'E2E', 'Colo' -Skip:(-not $HasTools) {
    BeforeAll {
        $tmp = New-TestDirectory
        # Names no other suite uses (the Guard suites' gs-*, the remote suite's rq*, the proofs' colops-<kind>-<pid>*).
        $ns = @{ A = "colops-tlsh-$PID-a"; B = "colops-tlsh-$PID-b"; Rogue = "colops-tlsh-$PID-r"; Link = "colops-tlsh-$PID-l" }
        $address = @{ A = '10.81.0.1'; B = '10.81.0.2' }
        $rogue = '10.81.0.66'
        New-HostNetwork -SwitchNamespace $ns.Link -Bridge ctbr -Member @(
            @{ Namespace = $ns.A; Address = "$($address.A)/24"; Port = 'ctpa' }
            @{ Namespace = $ns.B; Address = "$($address.B)/24"; Port = 'ctpb' }
            @{ Namespace = $ns.Rogue; Address = "$rogue/24"; Port = 'ctpr' })
        $qemu = New-SiteQemuWrapper -Path "$tmp/qemu-in-site.sh" -Name tls -NamespaceA $ns.A -NamespaceB $ns.B
        $cfg = New-TestColoConfig -Directory $tmp -PortBase 42600 -Name tls -Address $address.A, $address.B -Extra @{ QemuBinary = $qemu }
        $cfg = New-ColoCertificate -Config $cfg -Path "$tmp/certs" -ErrorAction Stop
        # A peer with a certificate from another CA, and one from the right CA with the wrong name.
        $evil = New-TestColoConfig -Directory "$tmp/x" -PortBase 42600 -Name evil | New-ColoCertificate -Path "$tmp/evil" -ErrorAction Stop
        $ports = $cfg.Ports.Migration, $cfg.Ports.Nbd, $cfg.Ports.Mirror, $cfg.Ports.Compare
        $pcap = "$tmp/colo.pcap"
        # On the link itself: the bridge every frame between the hosts crosses.
        $capture = Start-PortCapture -Port $ports -File $pcap -Namespace $ns.Link -Interface ctbr
        $qemuImg = (Get-Command qemu-img -CommandType Application | Select-Object -First 1).Source
    }
    AfterAll {
        # Each step whatever the one before did: the namespaces (and what runs in them) must go.
        try {
            Stop-PortCapture
            Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$tmp*" } | Disconnect-QmpSession -Confirm:$false
        }
        finally {
            try { Remove-HostNetwork -Namespace $ns.A, $ns.B, $ns.Rogue, $ns.Link }
            finally { Remove-TestDirectory $tmp }
        }
    }

    It 'makes a CA and each site''s certificates, keys 0600, and points the configuration at them' {
        $cfg.Tls.SiteA.CertificateDirectory | Should -BeExactly "$tmp/certs/A"
        $cfg.Tls.SiteB.ClientIdentity | Should -BeExactly 'CN=tls-B-client'
        foreach ($site in 'A', 'B') {
            foreach ($f in 'ca-cert.pem', 'server-cert.pem', 'server-key.pem', 'client-cert.pem', 'client-key.pem') { "$tmp/certs/$site/$f" | Should -Exist }
            (Get-Item "$tmp/certs/$site/server-key.pem").UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite')
            (Get-Item "$tmp/certs/$site/client-key.pem").UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite')
            "$tmp/certs/$site/ca-key.pem" | Should -Not -Exist
            $address = $cfg.GetSite($site).Address
            (& openssl x509 -in "$tmp/certs/$site/server-cert.pem" -noout -ext subjectAltName) -join ' ' | Should -Match "IP Address:$([regex]::Escape($address))\b"
            & openssl verify -CAfile "$tmp/certs/ca/ca-cert.pem" "$tmp/certs/$site/client-cert.pem" | Should -Match ': OK$'
        }
        $err = $null
        New-ColoCertificate -Config $cfg -Path "$tmp/certs" -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoCertificateExists,ColoPS.Commands.NewColoCertificateCommand'
    }

    It 'refuses peers without a valid certificate on the waiting secondary''s migration port; the same probe with the primary''s certificate gets in' {
        $addr = $cfg.SiteB.Address
        $probe = Start-ColoSecondary -Config $cfg -Site B
        # Every probe from the rogue host, beside the sites on their link.
        $refused = Invoke-TlsProbe -Namespace $ns.Rogue -Probe @(
            @{ Address = $addr; Port = $cfg.Ports.Migration; CertDirectory = "$tmp/evil/A" }
            @{ Address = $addr; Port = $cfg.Ports.Migration; CertDirectory = "$tmp/certs/B" }
            @{ Address = $addr; Port = $cfg.Ports.Migration; CertDirectory = '' })
        Assert-Refused $refused[0] 'a certificate from another CA'
        Assert-Refused $refused[1] 'the right CA but not the peer''s name'
        Assert-Refused $refused[2] 'a TLS client without a certificate'
        Get-Process -Id $probe.ProcessId | Should -Not -BeNullOrEmpty -Because 'the refused connections do not end the waiting secondary'
        $log = Get-Content $cfg.QemuLogOf('B') -Raw
        $log | Should -Match "hasn't got a known issuer"
        $log | Should -Match 'authz check for CN=tls-B-client is denied'
        # The positive control: the same probe with site A's client certificate. The secondary takes
        # it for its primary's migration stream, so this secondary is spent and a fresh one follows.
        Assert-Handshake (Invoke-TlsProbe -Namespace $ns.Rogue -Address $addr -Port $cfg.Ports.Migration -CertDirectory "$tmp/certs/A" -CaFile "$tmp/certs/ca/ca-cert.pem" -NoInput -TimeoutSec 3) 'the primary''s own certificate'
        (Get-Content $cfg.QemuLogOf('B') -Raw) | Should -Not -Match 'authz check for CN=tls-A-client is denied'
        Stop-Process -Id $probe.ProcessId -Force -ErrorAction Ignore
        Wait-Process -Id $probe.ProcessId -Timeout 10 -ErrorAction Ignore
        Remove-Item $cfg.PidFileOf('B') -ErrorAction Ignore
        $script:b = Start-ColoSecondary -Config $cfg -Site B
        $script:a = Start-ColoPrimary -Config $cfg -Site A -Secondary $b
        Assert-Protected $a $b
        Assert-LinksEncrypted $a $b
        Assert-Hosts $a $b
    }

    It 'refuses every peer without a valid certificate on the protected pair''s ports while it keeps checkpointing' {
        $ca = "$tmp/certs/ca/ca-cert.pem"
        $before = [long](Get-ColoStatus -Node $a).CheckpointCount
        $addrA = $cfg.SiteA.Address
        $addrB = $cfg.SiteB.Address
        # NBD, the secondary's export, serves more than one client. The positive control: the same
        # probe with the primary's own client certificate opens the export.
        Test-NbdProbe -Address $addrB -Port $cfg.Ports.Nbd -CertDirectory "$tmp/certs/A" -QemuImg $qemuImg -Namespace $ns.Rogue | Should -BeTrue -Because 'the probe itself works: what the two below lack is the certificate'
        Test-NbdProbe -Address $addrB -Port $cfg.Ports.Nbd -CertDirectory "$tmp/evil/A" -QemuImg $qemuImg -Namespace $ns.Rogue | Should -BeFalse
        Test-NbdProbe -Address $addrB -Port $cfg.Ports.Nbd -CertDirectory "$tmp/certs/B" -QemuImg $qemuImg -Namespace $ns.Rogue | Should -BeFalse
        Test-NbdProbe -Address $addrB -Port $cfg.Ports.Nbd -QemuImg $qemuImg -Namespace $ns.Rogue | Should -BeFalse -Because 'a client without TLS is refused too'
        Get-Content $cfg.QemuLogOf('B') -Raw | Should -Match 'option negotiation failed'
        # The rest at once: the secondary's migration port, and the primary's mirror and compare
        # ports, each with another CA's certificate, the right CA's for the wrong name, and the peer's own.
        $probes = @(
            foreach ($t in @(@{ Address = $addrB; Port = $cfg.Ports.Migration; Peer = "$tmp/certs/A" }, @{ Address = $addrA; Port = $cfg.Ports.Mirror; Peer = "$tmp/certs/B" }, @{ Address = $addrA; Port = $cfg.Ports.Compare; Peer = "$tmp/certs/B" })) {
                @{ Address = $t.Address; Port = $t.Port; CertDirectory = "$tmp/evil/A" }
                @{ Address = $t.Address; Port = $t.Port; CertDirectory = $(if ($t.Peer -like '*/A') { "$tmp/certs/B" } else { "$tmp/certs/A" }) }
                @{ Address = $t.Address; Port = $t.Port; CertDirectory = $t.Peer; CaFile = $ca; NoInput = $true }
            })
        $seen = Invoke-TlsProbe -Namespace $ns.Rogue -Probe $probes -TimeoutSec 5
        $seen | Format-Table Port, CertDirectory, Ended, @{ n = 'Said'; e = { ($_.Output -split "`n" | Where-Object { $_ -match 'CONNECTED|errno|Verify return|alert|eof' }) -join ' / ' } } -AutoSize | Out-String -Width 220 | Write-Host
        foreach ($r in $seen | Where-Object Port -eq $cfg.Ports.Migration) {
            # Once the primary's stream is in, the incoming side takes no other channel.
            Assert-ClosedUnanswered $r "the protected secondary's migration port ($($r.CertDirectory))"
        }
        $logB = Get-Content $cfg.QemuLogOf('B')
        @($logB | Select-String -SimpleMatch 'Extra incoming migration connection; ignoring').Count | Should -BeGreaterOrEqual 3 -Because 'QEMU says why it closed each of the three'
        foreach ($r in $seen | Where-Object Port -ne $cfg.Ports.Migration) {
            # A server chardev takes one peer: while the secondary holds it, nobody else is served.
            Assert-NotServed $r "port $($r.Port) held by the secondary ($($r.CertDirectory))"
        }
        Assert-Protected $a $b
        (Invoke-QmpCommand $a.Session query-status).status | Should -Be 'running'
        $after = Get-CheckpointCount $a
        Write-Host "checkpoints of the protected pair: $before before the probes, $after after"
        $after | Should -BeGreaterOrEqual ($before + 2) -Because 'the pair checkpointed (every 2 s) all through the probes, not only at the wait for one after them'
        Write-Marker $a 1M
    }

    It 'fails over and resumes both ways with every link still over TLS' {
        # The primary dies: the secondary takes over and gets peer-facing chardevs with TLS.
        Stop-Hard $a
        Invoke-ColoFailover -Node $b -Confirm:$false | Out-Null
        # Fresh listeners that nobody uses yet: the moment to knock with the wrong certificates
        # (the right one, the control, comes last: see the end of the next test).
        $addr = $cfg.SiteB.Address
        $probes = @(
            foreach ($port in $cfg.Ports.Mirror, $cfg.Ports.Compare) {
                @{ Address = $addr; Port = $port; CertDirectory = "$tmp/evil/A" }
                @{ Address = $addr; Port = $port; CertDirectory = "$tmp/certs/B" }
                @{ Address = $addr; Port = $port; CertDirectory = '' }
            })
        foreach ($r in Invoke-TlsProbe -Namespace $ns.Rogue -Probe $probes) {
            # gnutls in QEMU drops a refused client without an alert: openssl sees the socket close.
            Assert-Refused $r "$(if ($r.CertDirectory) { $r.CertDirectory } else { 'no certificate' }) on port $($r.Port)"
        }
        (Get-ColoStatus -Node $b).Protection | Should -Be 'Unprotected' -Because 'the survivor still runs alone after the probes'
        (Invoke-QmpCommand $b.Session query-status).status | Should -Be 'running'
        $script:a = Start-ColoSecondary -Config $cfg -Site A
        Resume-ColoReplication -Node $b -Secondary $a -Confirm:$false | Out-Null
        Assert-Protected $b $a
        Assert-LinksEncrypted $b $a
        Assert-Hosts $b $a
        Write-Marker $b 2M

        # The secondary dies: the primary runs alone, its mirror and compare sockets listen again.
        Stop-Hard $a
        Invoke-ColoFailover -Node $b -Confirm:$false | Out-Null
        (Get-ColoStatus -Node $b).Protection | Should -Be 'Unprotected'
    }

    It 'resumes after the secondary is lost, still over TLS, leaves the markers on the far disks, and lets the right certificate in' {
        $script:a = Start-ColoSecondary -Config $cfg -Site A
        Resume-ColoReplication -Node $b -Secondary $a -Confirm:$false | Out-Null
        Assert-Protected $b $a
        Assert-LinksEncrypted $b $a
        Write-Marker $b 3M
        # The positive control of the mirror and compare refusals, on the survivor's listeners once
        # more waiting for a secondary: the same probe with site A's certificate gets in. Last,
        # because a chardev nobody reads yet (no filter before the resume) never sees such a peer
        # leave: it would keep the listener from the next secondary.
        Stop-ColoNode -Node $a
        Invoke-ColoFailover -Node $b -Confirm:$false | Out-Null
        $controls = Invoke-TlsProbe -Namespace $ns.Rogue -TimeoutSec 3 -Probe @(foreach ($port in $cfg.Ports.Mirror, $cfg.Ports.Compare) { @{ Address = $cfg.SiteB.Address; Port = $port; CertDirectory = "$tmp/certs/A"; CaFile = "$tmp/certs/ca/ca-cert.pem"; NoInput = $true } })
        foreach ($r in $controls) { Assert-Handshake $r "site A's certificate on port $($r.Port)" }
        Stop-ColoNode -Node $b
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
        # 1M went to B while A was primary and came back to A with the resume's mirror; 2M and 3M
        # went to A over NBD while B was primary.
        foreach ($site in 'A', 'B') {
            foreach ($mib in 1, 2, 3) { Test-MarkerOnDisk -Disk $cfg.DiskPathOf($site) -OffsetMiB $mib | Should -BeTrue -Because "the marker at $mib MiB is on site $site's disk" }
        }
    }

    It 'captured a TLS handshake on every COLO port between the hosts, nothing but TLS records after it, and the marker never in clear' {
        Stop-PortCapture $capture
        $streams = @(Get-CaptureStream -File $pcap)
        # Who spoke on the link: the two sites with each other, and the rogue with a site's COLO port.
        $sites = $address.A, $address.B
        $between = @($streams | Where-Object { $_.SrcAddress -in $sites -and $_.DstAddress -in $sites -and $_.SrcAddress -ne $_.DstAddress })
        $probed = @($streams | Where-Object { ($_.SrcAddress -eq $rogue -and $_.DstAddress -in $sites -and $_.DstPort -in $ports) -or ($_.DstAddress -eq $rogue -and $_.SrcAddress -in $sites -and $_.SrcPort -in $ports) })
        @($streams | Where-Object { $_ -notin $between -and $_ -notin $probed }) | ForEach-Object { "$($_.SrcAddress):$($_.SrcPort) -> $($_.DstAddress):$($_.DstPort)" } | Should -BeNullOrEmpty -Because 'only the sites and the rogue are on the link'
        $summary = Get-CaptureSummary -Stream $between -Port $ports -StartTlsPort $cfg.Ports.Nbd
        Write-Host 'Between the sites:'
        $summary | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
        foreach ($row in $summary) {
            # A loaded machine may drop segments of a burst even with tshark's large buffer; the
            # walk resumes after each hole, and most of every stream must have been read.
            $row.Directions | Should -BeGreaterOrEqual 2 -Because "the COLO link on port $($row.Port) crossed between the hosts"
            $row.MissingBytes | Should -BeLessThan ($row.PayloadBytes / 10) -Because "the capture of port $($row.Port) is nearly whole"
            # After a hole the walk skips to where records follow one another again: what it skipped was read as nothing, so it must stay small too.
            ($row.MissingBytes + $row.UnreadBytes) | Should -BeLessThan ($row.PayloadBytes / 10) -Because "the walk read nearly all of port $($row.Port)"
            $row.ClientHellos | Should -BeGreaterThan 0 -Because "port $($row.Port) starts TLS"
            $row.Records | Should -BeGreaterThan 0
            $row.ClearBytes | Should -Be 0 -Because "port $($row.Port) carries TLS records only (after STARTTLS on NBD)"
        }
        ($summary | Where-Object Port -eq $cfg.Ports.Nbd).PayloadBytes | Should -BeGreaterThan (3 * 64KB) -Because 'three markers crossed the NBD link'
        # The rogue's probes crossed the same link: its ClientHellos reached every COLO port. Only its
        # NBD client without TLS spoke in clear (the walk sees it: it is no STARTTLS connection).
        $fromRogue = Get-CaptureSummary -Stream $probed -Port $ports -StartTlsPort $cfg.Ports.Nbd
        Write-Host "From the rogue host ($rogue):"
        $fromRogue | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
        foreach ($row in $fromRogue) {
            $row.ClientHellos | Should -BeGreaterThan 0 -Because "the rogue's probes reached port $($row.Port)"
            if ($row.Port -eq $cfg.Ports.Nbd) { $row.ClearBytes | Should -BeGreaterThan 0 -Because 'the NBD client without TLS negotiated in clear, and was refused' }
            else { $row.ClearBytes | Should -Be 0 -Because "the probes of port $($row.Port) spoke TLS only" }
        }
        Test-BytesContain -File $pcap -Value 0x5a -Count 512 | Should -BeFalse
    }
}
