# Where each site of a split-site proof run (-SiteNamespace) really is, dot-sourced by
# Invoke-ColoProof.ps1: for each site its namespace, its address, what listens in that namespace,
# the certificate folder its QEMU was given and the addresses that site's server certificate names.
# The proof's TLS Describe reads it to show that each site ran as a separate host would.

function Get-SiteTopology {
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
