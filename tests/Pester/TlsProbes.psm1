# TLS clients for the TLS suites: openssl s_client processes holding a given certificate, several
# at once, and the NBD client of qemu-img; and the Pester assertions that read the server's verdict
# from a probe's output (Assert-Refused, Assert-Handshake, Assert-NotServed, Assert-ClosedUnanswered).

function Invoke-TlsProbe {
    <#
    TLS clients on Address:Port with the certificate in CertDirectory (its client-cert.pem and
    client-key.pem; an empty CertDirectory: a client without a certificate), all started at once: one, or one per -Probe entry (hashtables with Address,
    Port, CertDirectory and optionally CaFile and NoInput). Without CaFile a client does not check
    the server, so what is tested is the server refusing it; with CaFile it checks the server's
    certificate against that CA and the address, and ends at once when that check fails. A line is
    written after 2 s unless NoInput (a probe that an accepting server would take as its peer must
    not feed it bytes). Returns, per probe in order, its target, openssl's whole output and whether
    openssl ended on its own; every client is gone within TimeoutSec.
    #>
    [CmdletBinding(DefaultParameterSetName = 'One')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'One')] [string] $Address,
        [Parameter(Mandatory, ParameterSetName = 'One')] [int] $Port,
        [Parameter(Mandatory, ParameterSetName = 'One')] [AllowEmptyString()] [string] $CertDirectory,
        [Parameter(ParameterSetName = 'One')] [string] $CaFile,
        [Parameter(ParameterSetName = 'One')] [switch] $NoInput,
        [Parameter(Mandatory, ParameterSetName = 'Set')] [hashtable[]] $Probe,
        [ValidateRange(3, 60)] [int] $TimeoutSec = 10,
        # The host the clients run on: a network namespace (a rogue host beside the sites), or this one.
        [string] $Namespace
    )
    if ($PSCmdlet.ParameterSetName -eq 'One') { $Probe = @(@{ Address = $Address; Port = $Port; CertDirectory = $CertDirectory; CaFile = $CaFile; NoInput = [bool]$NoInput }) }
    $running = foreach ($t in $Probe) {
        $argv = @('s_client', '-connect', "$($t.Address):$($t.Port)", '-ign_eof')
        if ($t.CertDirectory) { $argv += '-cert', "$($t.CertDirectory)/client-cert.pem", '-key', "$($t.CertDirectory)/client-key.pem" }
        if ($t.CaFile) { $argv += '-CAfile', $t.CaFile, '-verify_ip', $t.Address, '-verify_return_error' }
        # ip netns exec execs openssl: the process stopped below is the client itself.
        if ($Namespace) { $argv = @('netns', 'exec', $Namespace, 'openssl') + $argv }
        $psi = [System.Diagnostics.ProcessStartInfo]::new($(if ($Namespace) { 'ip' } else { 'openssl' }))
        foreach ($a in $argv) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardInput = $true
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $p = [System.Diagnostics.Process]::Start($psi)
        [pscustomobject]@{ Target = $t; Process = $p; Out = $p.StandardOutput.ReadToEndAsync(); Err = $p.StandardError.ReadToEndAsync() }
    }
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        # stdin stays open a while, so the server's verdict on the client certificate (sent after
        # the handshake in TLS 1.3) arrives before the clients are stopped. A refused probe may
        # already be gone when the line is written: that broken pipe is the expected outcome.
        Wait-ProbeExit $running $clock ([math]::Min(2, $TimeoutSec))
        foreach ($r in $running) {
            if (-not $r.Process.HasExited -and -not $r.Target.NoInput) { try { $r.Process.StandardInput.WriteLine('probe'); $r.Process.StandardInput.Flush() } catch [System.IO.IOException] { } }
        }
        Wait-ProbeExit $running $clock ([math]::Min(4, $TimeoutSec))
        foreach ($r in $running) { try { $r.Process.StandardInput.Close() } catch [System.IO.IOException] { } }
        Wait-ProbeExit $running $clock $TimeoutSec
        foreach ($r in $running) {
            $ended = $r.Process.HasExited
            if (-not $ended) { $r.Process.Kill($true); $null = $r.Process.WaitForExit(5000) }
            $null = $r.Out.Wait(5000), $r.Err.Wait(5000)
            [pscustomobject]@{
                Address = $r.Target.Address; Port = $r.Target.Port; CertDirectory = $r.Target.CertDirectory
                Output = "$($r.Out.Result)`n$($r.Err.Result)"; Ended = $ended; ExitCode = $(if ($ended) { $r.Process.ExitCode } else { $null })
            }
        }
    }
    finally {
        foreach ($r in $running) { if (-not $r.Process.HasExited) { $r.Process.Kill($true) }; $r.Process.Dispose() }
    }
}

function Wait-ProbeExit {
    # Until every probe has ended or the clock reaches UntilSec.
    param([object[]] $Running, [System.Diagnostics.Stopwatch] $Clock, [double] $UntilSec)
    while ($Clock.Elapsed.TotalSeconds -lt $UntilSec -and @($Running | Where-Object { -not $_.Process.HasExited }).Count -gt 0) { Start-Sleep -Milliseconds 100 }
}

function Test-NbdProbe {
    <#
    An NBD client (qemu-img info, at most 15 s) with the given certificate folder, or in clear
    without one, on this host or in -Namespace; true when it could open the export.
    #>
    param([Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [int] $Port, [string] $CertDirectory, [string] $QemuImg = 'qemu-img', [string] $Namespace)
    $argv = if ($CertDirectory) { @('--object', "tls-creds-x509,id=probe0,dir=$CertDirectory,endpoint=client,verify-peer=off", '--image-opts', "driver=nbd,host=$Address,port=$Port,export=parent0,tls-creds=probe0") }
    else { @('--image-opts', "driver=nbd,host=$Address,port=$Port,export=parent0") }
    $argv = @('timeout', '15', $QemuImg, 'info') + $argv
    if ($Namespace) { $argv = @('ip', 'netns', 'exec', $Namespace) + $argv }
    $null = & $argv[0] $argv[1..($argv.Count - 1)] 2>&1
    $LASTEXITCODE -eq 0
}

function Assert-Refused {
    # openssl ended on its own (the server closed the connection) and says why; an accepted
    # probe would keep its connection until the timeout.
    param($Probe, [string] $Because)
    $Probe.Ended | Should -BeTrue -Because "QEMU ends the connection of $Because"
    $Probe.Output | Should -Match 'unexpected eof while reading|alert' -Because $Because
}

function Assert-Handshake {
    # The positive control of a refusal: the same probe with the right certificate. It checked
    # the server (the pair's CA, the site's address), finished the handshake, and the server
    # kept it until the probe was stopped.
    param($Probe, [string] $Because)
    $Probe.Output | Should -Match 'BEGIN CERTIFICATE' -Because "the server sent its certificate to $Because"
    $Probe.Output | Should -Match 'Verify return code: 0 \(ok\)' -Because $Because
    $Probe.Output | Should -Not -Match 'no peer certificate available|unexpected eof while reading|alert' -Because $Because
    $Probe.Ended | Should -BeFalse -Because "QEMU keeps the connection of $Because"
}

function Assert-NotServed {
    # A port whose one peer is connected: the kernel may take the connection, QEMU never
    # answers its ClientHello, whatever certificate the probe holds.
    param($Probe, [string] $Because)
    $Probe.Output | Should -Not -Match 'BEGIN CERTIFICATE|Verify return code|Cipher is' -Because $Because
    $Probe.Ended | Should -BeFalse -Because "the probe of $Because still waited for an answer when it was stopped"
}

function Assert-ClosedUnanswered {
    # QEMU takes the connection and closes it before any handshake, whatever certificate the
    # probe holds: the server sent no byte.
    param($Probe, [string] $Because)
    $Probe.Ended | Should -BeTrue -Because $Because
    $Probe.Output | Should -Match 'SSL handshake has read 0 bytes' -Because $Because
    $Probe.Output | Should -Not -Match 'BEGIN CERTIFICATE' -Because $Because
}

Export-ModuleMember -Function Invoke-TlsProbe, Test-NbdProbe, Assert-Refused, Assert-Handshake, Assert-NotServed, Assert-ClosedUnanswered
