# A survivor waiting to be re-protected listens on its mirror and compare sockets for the next
# secondary. A peer that connects there and leaves (with the right certificate when TLS is on)
# leaves QEMU 11 holding the dead connection: nothing reads a chardev without a filter, so QEMU
# never sees the close and takes no other client. The resume renews both listeners and waits for
# the new secondary on them before it copies the disk; the pair is protected and checkpoints.
# Loopback pairs, QEMU 11, with and without TLS.

BeforeDiscovery {
    $script:HasTools = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command openssl -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsProbes.psm1') -Force
    Import-ColoPSUnderTest

    function Test-ChardevConnected {
        param($Node, [string] $Id)
        [bool](Invoke-QmpCommand $Node.Session qom-get @{ path = "/chardevs/$Id"; property = 'connected' } -ErrorAction Stop)
    }

    function Connect-AndLeave {
        # A peer that is allowed in: with TLS, site B's own client certificate, the server checked
        # against the pair's CA; without, a plain TCP connection. It closes after the handshake.
        param($Config, [string] $Directory, [int] $Port, [bool] $Tls)
        $address = $Config.SiteA.Address
        if ($Tls) {
            $r = Invoke-TlsProbe -Address $address -Port $Port -CertDirectory "$Directory/certs/B" -CaFile "$Directory/certs/ca/ca-cert.pem" -NoInput -TimeoutSec 3
            $r.Output | Should -Match 'Verify return code: 0 \(ok\)' -Because "the peer with the right certificate finished the handshake on port $Port"
            $r.Output | Should -Not -Match 'unexpected eof while reading|alert' -Because "QEMU took the peer with the right certificate on port $Port"
        }
        else {
            $c = [System.Net.Sockets.TcpClient]::new()
            try {
                $c.ConnectAsync($address, $Port).Wait(5000) | Should -BeTrue -Because "port $Port takes a connection"
                Start-Sleep -Milliseconds 300
            }
            finally { $c.Dispose() }
        }
    }
}

Describe 'A resume after a peer connected to the survivor''s mirror and compare sockets and left (TLS <Mode>)' -Tag 'TlsResume', 'E2E', 'Colo' -Skip:(-not $HasTools) -ForEach @(
    @{ Mode = 'on'; Tls = $true; PortBase = 47100 }
    @{ Mode = 'off'; Tls = $false; PortBase = 47200 }
) {
    BeforeAll {
        $tmp = New-TestDirectory
        $cfg = New-TestColoConfig -Directory $tmp -PortBase $PortBase -Name "res$Mode"
        if ($Tls) { $cfg = $cfg | New-ColoCertificate -Path "$tmp/certs" -ErrorAction Stop }
    }
    AfterAll {
        Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$tmp*" } | Disconnect-QmpSession -Confirm:$false
        Remove-TestDirectory $tmp
    }

    It 'protects the pair, loses the secondary and fails over to the primary alone' {
        $b = Start-ColoSecondary -Config $cfg -Site B
        $script:a = Start-ColoPrimary -Config $cfg -Site A -Secondary $b
        (Get-ColoStatus -Node $a).Protection | Should -Be 'Protected'
        Wait-Checkpoint $a
        Stop-Process -Id $b.ProcessId -Force
        Wait-Process -Id $b.ProcessId -Timeout 10 -ErrorAction Ignore
        Invoke-ColoFailover -Node $a -Confirm:$false | Out-Null
        (Get-ColoStatus -Node $a).Protection | Should -Be 'Unprotected'
        foreach ($id in 'mirror0', 'compare1') { Write-Host "after the failover $id connected: $(Test-ChardevConnected $a $id)" }
    }

    It 'is left holding a dead connection on both sockets once the peer is gone' {
        foreach ($port in $cfg.Ports.Mirror, $cfg.Ports.Compare) { Connect-AndLeave -Config $cfg -Directory $tmp -Port $port -Tls $Tls }
        Start-Sleep -Seconds 1
        # What QEMU 11.1.3 does: the peer left, the chardev still says connected, and a second
        # client is never served (it waits in the listen backlog): the next secondary would too.
        foreach ($id in 'mirror0', 'compare1') { Test-ChardevConnected $a $id | Should -BeTrue -Because "QEMU never read $id, so it did not see the peer leave" }
        if ($Tls) {
            $second = Invoke-TlsProbe -Address $cfg.SiteA.Address -Port $cfg.Ports.Mirror -CertDirectory "$tmp/certs/B" -CaFile "$tmp/certs/ca/ca-cert.pem" -NoInput -TimeoutSec 4
            $second.Output | Should -Not -Match 'BEGIN CERTIFICATE|Verify return code' -Because 'QEMU does not answer a second client while it holds the dead one'
            $second.Ended | Should -BeFalse -Because 'the second client still waited for an answer when it was stopped'
        }
        (Get-ColoStatus -Node $a).Protection | Should -Be 'Unprotected' -Because 'the survivor still runs alone'
    }

    It 'resumes: fresh listeners, the new secondary on both before the disk copy, Protected and checkpointing' {
        $b = Start-ColoSecondary -Config $cfg -Site B
        Resume-ColoReplication -Node $a -Secondary $b -Confirm:$false | Out-Null
        $sa = Get-ColoStatus -Node $a
        $sb = Get-ColoStatus -Node $b
        $sa.Protection | Should -Be 'Protected'
        $sb.Protection | Should -Be 'Protected'
        $sa.Role | Should -Be 'Primary'
        $sb.Role | Should -Be 'Secondary'
        foreach ($id in 'mirror0', 'compare1') { Test-ChardevConnected $a $id | Should -BeTrue -Because "the new secondary is on $id" }
        $before = [long]$sa.CheckpointCount
        Wait-Checkpoint $a
        Wait-Checkpoint $a
        $after = [long](Get-ColoStatus -Node $a).CheckpointCount
        Write-Host "TLS $Mode`: checkpoints after the resume: $before, then $after"
        $after | Should -BeGreaterOrEqual ($before + 2) -Because 'the resumed pair checkpoints every 2 s'
        (Get-ColoStatus -Node $a).Protection | Should -Be 'Protected' -Because 'the pair stays protected through the checkpoints'
        if ($Tls) {
            $links = (Get-ColoStatus -Node $a).Links
            ($links | Where-Object Name -eq 'Migration').Encrypted | Should -BeTrue
            ($links | Where-Object Name -eq 'Nbd').Encrypted | Should -BeTrue
        }
        Stop-ColoNode -Node $a, $b -Confirm:$false
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}
