# Half a TLS configuration, or certificates that do not fit it, are refused by validation before any QEMU starts: typed errors with
# stable ids. (The TLS links themselves, between sites run as hosts, are in ColoTls.Tests.ps1.)

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-ColoPSUnderTest
}

Describe 'Half a TLS configuration' -Tag 'Tls', 'Colo' {
    BeforeAll {
        $tmp = New-TestDirectory
        $base = New-TestColoConfig -Directory $tmp -PortBase 42700 -Name half | New-ColoCertificate -Path "$tmp/certs" -ErrorAction Stop
    }
    AfterAll { Remove-TestDirectory $tmp }

    It 'is refused before any QEMU starts: <Case>' -ForEach @(
        @{ Case = 'one site without certificates'; Id = 'ColoConfigTlsIncomplete'; Edit = { param($c, $tmp) $c.Tls.SiteB = $null } }
        @{ Case = 'a relative certificate folder'; Id = 'ColoConfigTlsIncomplete'; Edit = { param($c, $tmp) $c.Tls.SiteA.CertificateDirectory = 'certs/A' } }
        @{ Case = 'a missing file'; Id = 'ColoConfigTlsFileMissing'; Edit = { param($c, $tmp) Remove-Item "$tmp/certs/B/client-key.pem" } }
        @{ Case = 'a key others can read'; Id = 'ColoConfigTlsKeyExposed'; Edit = { param($c, $tmp) chmod 644 "$tmp/certs/B/server-key.pem" } }
        @{ Case = 'no peer identity'; Id = 'ColoConfigTlsInvalidIdentity'; Edit = { param($c, $tmp) $c.Tls.SiteA.ClientIdentity = '' } }
        @{ Case = 'a server certificate for another address'; Id = 'ColoConfigTlsNameMismatch'; Edit = { param($c, $tmp) $c.SiteB.Address = '127.0.0.9' } }
        @{ Case = 'a client certificate for another identity'; Id = 'ColoConfigTlsIdentityMismatch'; Edit = { param($c, $tmp) $c.Tls.SiteB.ClientIdentity = 'CN=someone-else' } }
    ) {
        $c = New-TestColoConfig -Directory "$tmp/$($Case -replace '\W','')" -PortBase 42700 -Name half | New-ColoCertificate -Path "$tmp/certs" -Force -ErrorAction Stop
        & $Edit $c $tmp
        $ErrorActionPreference = 'Continue'
        $err = @(Start-ColoSecondary -Config $c -Site B 2>&1 | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly "$Id,ColoPS.Commands.StartColoSecondaryCommand"
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }
}
