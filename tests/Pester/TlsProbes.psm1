# TLS clients for the TLS suites: openssl s_client processes holding a given certificate, several
# at once, and the NBD client of qemu-img. What a probe's output says of the server's verdict is
# read by the suites (Assert-Refused, Assert-Handshake, Assert-NotServed there).

function Invoke-TlsProbe {
    <#
    TLS clients on Address:Port with the certificate in CertDirectory (its client-cert.pem and
    client-key.pem), all started at once: one, or one per -Probe entry (hashtables with Address,
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
        [Parameter(Mandatory, ParameterSetName = 'One')] [string] $CertDirectory,
        [Parameter(ParameterSetName = 'One')] [string] $CaFile,
        [Parameter(ParameterSetName = 'One')] [switch] $NoInput,
        [Parameter(Mandatory, ParameterSetName = 'Set')] [hashtable[]] $Probe,
        [ValidateRange(3, 60)] [int] $TimeoutSec = 10
    )
    if ($PSCmdlet.ParameterSetName -eq 'One') { $Probe = @(@{ Address = $Address; Port = $Port; CertDirectory = $CertDirectory; CaFile = $CaFile; NoInput = [bool]$NoInput }) }
    $running = foreach ($t in $Probe) {
        $argv = @('s_client', '-connect', "$($t.Address):$($t.Port)", '-cert', "$($t.CertDirectory)/client-cert.pem", '-key', "$($t.CertDirectory)/client-key.pem", '-ign_eof')
        if ($t.CaFile) { $argv += '-CAfile', $t.CaFile, '-verify_ip', $t.Address, '-verify_return_error' }
        $psi = [System.Diagnostics.ProcessStartInfo]::new('openssl')
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
    <# An NBD client with the given certificate folder; true when it could open the export. #>
    param([Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [string] $CertDirectory, [string] $QemuImg = 'qemu-img')
    $null = & timeout 15 $QemuImg info --object "tls-creds-x509,id=probe0,dir=$CertDirectory,endpoint=client,verify-peer=off" --image-opts "driver=nbd,host=$Address,port=$Port,export=parent0,tls-creds=probe0" 2>&1
    $LASTEXITCODE -eq 0
}

Export-ModuleMember -Function Invoke-TlsProbe, Test-NbdProbe
