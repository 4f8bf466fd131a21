# The TLS capture's positive control with a real guest (the proof's, tests/guest), its sites run as
# two hosts (a network namespace each, one veth link between them, as the proof's split-site run):
# the same marker, the same capture on that link and the same search, with TLS off (every COLO port
# must show the marker) and on (none may).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    $script:ProofSkipReason = Test-ProofPrerequisite
    $script:HasTools = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command tshark -ErrorAction Ignore) -and [bool](Get-Command openssl -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ProofHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsGuest.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'SiteHosts.psm1') -Force
    Import-ColoPSUnderTest
}

Describe 'A real guest''s marker on the COLO links, TLS <Mode>' -Tag 'Tls', 'E2E', 'Colo' -Skip:(-not $HasTools -or [bool]$ProofSkipReason) -ForEach @(
    @{ Mode = 'off'; Tls = $false; PortBase = 53000 }
    @{ Mode = 'on'; Tls = $true; PortBase = 53100 }
) {
    # The positive control of the capture: the same guest, the same request and the same search,
    # once in clear (every port must show the marker, so the search can find it) and once over
    # TLS (no port may). A marker is a record number: the client sends it (mirror), the guest
    # writes "REC <n>" to sector n of its disk (NBD), holds n and its answer in its RAM (migration,
    # at the checkpoint that releases the answer) and answers "ACK <n> ..." (compare, the secondary's copy).
    BeforeAll {
        $tmp = New-TestDirectory
        $ns = "colops-tlsm-$PID"
        # Several requests: the guest pings every second, and when its pings differ between the two
        # sides the checkpoint they force can land between the request and the secondary's own answer,
        # which then never crosses the compare link (the primary's is released by that checkpoint).
        $markers = 104729..104733
        $guest = & (Join-Path $PSScriptRoot '../guest/Build-TestGuest.ps1')
        New-TlsGuestNetwork -Namespace $ns
        $cfg = New-TlsGuestConfig -Directory $tmp -Namespace $ns -PortBase $PortBase -Guest $guest -Tls:$Tls
        $ports = $cfg.Ports.Migration, $cfg.Ports.Nbd, $cfg.Ports.Mirror, $cfg.Ports.Compare
        $pcap = "$tmp/guest.pcap"
        # Site A's end of the link between the sites: every COLO connection crosses it.
        $capture = Start-PortCapture -Port $ports -File $pcap -Namespace "$ns-a" -Interface cpla
        $address = @{ A = $cfg.SiteA.Address; B = $cfg.SiteB.Address }
    }
    AfterAll {
        # Each step whatever the one before did: the namespaces (and what runs in them) must go.
        try {
            Stop-PortCapture
            Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$tmp*" } | Disconnect-QmpSession -Confirm:$false
        }
        finally {
            try { Remove-ProofNetwork -Namespace $ns }
            finally { Remove-TestDirectory $tmp }
        }
    }

    It 'protects the booted guest, which answers the marker request through colo-compare' {
        $first = Start-ColoSecondary -Config $cfg -Site B
        $script:p = Start-ColoPrimary -Config $cfg -Site A -Secondary $first -WarningAction SilentlyContinue
        # The boot only needs the checkpoints its own output forces; the resume below sets the interval again.
        $null = Invoke-QmpCommand $p.Session migrate-set-parameters @{ 'x-checkpoint-delay' = 30000 }
        Wait-TlsGuestReady $p
        # As in the proof: a secondary that ran the boot under TCG may keep translations of code the
        # checkpoints replaced; one started on the booted guest is a faithful copy.
        Stop-Process -Id $first.ProcessId -Force
        Wait-Process -Id $first.ProcessId -Timeout 10 -ErrorAction Ignore
        $null = Invoke-ColoFailover -Node $p -Confirm:$false -TimeoutSec 30
        $script:s = Start-ColoSecondary -Config $cfg -Site B
        $null = Resume-ColoReplication -Node $p -Secondary $script:s -Confirm:$false -ErrorAction Stop
        (Get-ColoStatus -Node $p).Protection | Should -Be 'Protected'
        $topology = Get-SiteTopology -Config $cfg -Nodes @{ A = $p; B = $script:s } -Namespace "$ns-a", "$ns-b"
        Assert-SiteTopology -Topology $topology -Namespace @{ A = "$ns-a"; B = "$ns-b" } -Address $address -Listening @{ A = $cfg.Ports.Mirror; B = $cfg.Ports.Migration }
        # Only a difference between the two answers may end the request's wait: no periodic
        # checkpoint (it could release the primary's answer before the secondary has made its own,
        # which then never crosses the compare link), and colo-compare waits long for the secondary.
        $null = Invoke-QmpCommand $p.Session migrate-set-parameters @{ 'x-checkpoint-delay' = 60000 }
        foreach ($marker in $markers) {
            $answer = Send-GuestRequest -Namespace $ns -Line "$marker"
            $answer | Should -Match "^ACK $marker " -Because 'the guest wrote the record and colo-compare released its answer'
        }
        # That checkpoint copied the guest's RAM as it was after the write; one more for good measure.
        $null = Invoke-QmpCommand $p.Session migrate-set-parameters @{ 'x-checkpoint-delay' = 1000 }
        Wait-Checkpoint $p
        (Get-ColoStatus -Node $p).Protection | Should -Be 'Protected'
        $link = (Get-ColoStatus -Node $p).Links | Where-Object Name -eq 'Migration'
        $link.Encrypted | Should -Be $Tls
    }

    It 'finds the marker on every COLO port in clear, and on none over TLS' {
        Stop-PortCapture $capture
        Stop-ColoNode -Node $p, $s
        $streams = @(Get-CaptureStream -File $pcap)
        @($streams | Where-Object { @($_.SrcAddress, $_.DstAddress | Sort-Object) -join ' ' -ne "$($address.A) $($address.B)" }) | ForEach-Object { "$($_.SrcAddress):$($_.SrcPort) -> $($_.DstAddress):$($_.DstPort)" } |
            Should -BeNullOrEmpty -Because 'every captured connection is one between the two sites'
        $summary = Get-CaptureSummary -Stream $streams -Port $ports -StartTlsPort $cfg.Ports.Nbd
        $seen = [ordered]@{
            # The guest's shell holds the request in its variable and builds the answer line in its
            # heap; a checkpoint copies those pages (dd's buffer holding the record is gone by then).
            Migration = Test-StreamContains -Stream $streams -Port $cfg.Ports.Migration -Marker ($markers | ForEach-Object { "n=$_"; "ACK $_ " })
            Nbd       = Test-StreamContains -Stream $streams -Port $cfg.Ports.Nbd -Marker ($markers | ForEach-Object { "REC $_" })
            Mirror    = Test-StreamContains -Stream $streams -Port $cfg.Ports.Mirror -Marker ($markers | ForEach-Object { "$_`n" })
            Compare   = Test-StreamContains -Stream $streams -Port $cfg.Ports.Compare -Marker ($markers | ForEach-Object { "ACK $_ " })
        }
        $summary | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
        Write-Host "TLS $Mode, marker seen: $(($seen.Keys | ForEach-Object { "$_=$($seen[$_])" }) -join ' ')"
        foreach ($row in $summary) {
            # In clear the mirror and compare links carry bytes one way only (the listener never answers).
            $row.Directions | Should -BeGreaterThan 0 -Because "the COLO link on port $($row.Port) crossed between the hosts"
            $row.MissingBytes | Should -BeLessThan ($row.PayloadBytes / 10) -Because "the capture of port $($row.Port) is nearly whole"
            # After a hole the walk skips to where records follow one another again: what it skipped was read as nothing, so it must stay small too.
            ($row.MissingBytes + $row.UnreadBytes) | Should -BeLessThan ($row.PayloadBytes / 10) -Because "the walk read nearly all of port $($row.Port)"
        }
        foreach ($link in $seen.Keys) { $seen[$link] | Should -Be (-not $Tls) -Because "the $link link $(if ($Tls) { 'is encrypted' } else { 'is in clear' })" }
        foreach ($row in $summary) {
            if ($Tls) {
                $row.ClientHellos | Should -BeGreaterThan 0 -Because "port $($row.Port) starts TLS"
                $row.ClearBytes | Should -Be 0 -Because "port $($row.Port) carries TLS records only"
            }
            else {
                # The walk's own positive control: the same walk over the links in clear finds clear text.
                $row.ClientHellos | Should -Be 0 -Because "port $($row.Port) carries no TLS"
                $row.ClearBytes | Should -BeGreaterThan 0 -Because "port $($row.Port) is in clear"
            }
        }
    }

    It 'wrote the marker to the far disk all the same' {
        foreach ($marker in $markers) { Read-DiskSector -Image $cfg.DiskPathOf('B') -Sector $marker | Should -BeExactly "REC $marker" }
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}
