# Captures and hostile peers for the TLS suite: a tshark capture on lo that is always stopped,
# and TLS clients holding certificates the pair must refuse.

$script:Captures = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()

function Start-LoopbackCapture {
    <# tshark on lo, only the given ports; returns once tshark says it captures. #>
    param([Parameter(Mandatory)] [int[]] $Port, [Parameter(Mandatory)] [string] $File)
    $filter = 'tcp and (' + (($Port | ForEach-Object { "port $_" }) -join ' or ') + ')'
    $psi = [System.Diagnostics.ProcessStartInfo]::new('tshark')
    foreach ($a in @('-i', 'lo', '-n', '-q', '-f', $filter, '-w', $File)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $script:Captures.Add($p)
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (-not (Test-Path $File)) {
        if ($p.HasExited) { throw "tshark exited: $($p.StandardError.ReadToEnd())" }
        if ([DateTime]::UtcNow -gt $deadline) { Stop-LoopbackCapture $p; throw 'tshark did not start capturing in 20 s.' }
        Start-Sleep -Milliseconds 100
    }
    # dumpcap creates the file before its filter is live; a moment more so the first handshake is in it.
    Start-Sleep -Milliseconds 500
    $p
}

function Stop-LoopbackCapture {
    # SIGINT, so tshark writes out what it holds; killed if it does not end in 10 s.
    param($Process)
    $all = if ($Process) { @($Process) } else { @($script:Captures) }
    foreach ($p in $all) {
        if (-not $p.HasExited) {
            & kill -INT $p.Id 2>$null
            if (-not $p.WaitForExit(10000)) { $p.Kill($true); $null = $p.WaitForExit(5000) }
        }
        $null = $script:Captures.Remove($p)
    }
}

function Invoke-TlsProbe {
    <#
    A TLS client on Address:Port with the certificate in CertDirectory (its client-cert.pem and
    client-key.pem); it does not check the server, so what is tested is the server refusing it.
    Returns openssl's whole output. Ends within TimeoutSec.
    #>
    param([Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [string] $CertDirectory, [int] $TimeoutSec = 10)
    # stdin stays open a while, so the server's verdict on the client certificate (sent after the
    # handshake in TLS 1.3) arrives before openssl gives up.
    $out = & timeout $TimeoutSec sh -c "(sleep 2; echo probe; sleep 2) | openssl s_client -connect ${Address}:$Port -cert '$CertDirectory/client-cert.pem' -key '$CertDirectory/client-key.pem' -ign_eof 2>&1"
    $out -join "`n"
}

function Test-NbdProbe {
    <# An NBD client with the given certificate folder; true when it could open the export. #>
    param([Parameter(Mandatory)] [string] $Address, [Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [string] $CertDirectory, [string] $QemuImg = 'qemu-img')
    $null = & timeout 15 $QemuImg info --object "tls-creds-x509,id=probe0,dir=$CertDirectory,endpoint=client,verify-peer=off" --image-opts "driver=nbd,host=$Address,port=$Port,export=parent0,tls-creds=probe0" 2>&1
    $LASTEXITCODE -eq 0
}

function Get-CaptureSummary {
    <#
    Per port: ClientHello count, TCP payload bytes, and payload frames tshark cannot read as TLS
    (neither a TLS record nor part of one reassembled later).
    #>
    param([Parameter(Mandatory)] [string] $File, [Parameter(Mandatory)] [int[]] $Port)
    $decode = foreach ($p in $Port) { '-d'; "tcp.port==$p,tls" }
    $rows = & tshark -r $File -n @decode -T fields -E separator=';' -e tcp.srcport -e tcp.dstport -e tcp.len -e tls.handshake.type -e tls.record.content_type -e tcp.reassembled_in 2>$null
    foreach ($p in $Port) {
        $mine = @($rows | ForEach-Object { , ($_ -split ';') } | Where-Object { $_[0] -eq "$p" -or $_[1] -eq "$p" })
        $payload = @($mine | Where-Object { [int]$_[2] -gt 0 })
        [pscustomobject]@{
            Port         = $p
            ClientHellos = @($mine | Where-Object { $_[1] -eq "$p" -and ($_[3] -split ',') -contains '1' }).Count
            PayloadBytes = ($payload | ForEach-Object { [long]$_[2] } | Measure-Object -Sum).Sum
            NotTls       = @($payload | Where-Object { -not $_[4] -and -not $_[5] }).Count
            BadRecords   = @($payload | Where-Object { $_[4] -and @($_[4] -split ',' | Where-Object { $_ -notin '20', '21', '22', '23' }).Count -gt 0 }).Count
        }
    }
}

function Test-BytesContain {
    # True when the file holds Count bytes of Value in a row anywhere.
    param([Parameter(Mandatory)] [string] $File, [byte] $Value, [int] $Count)
    $text = [System.Text.Encoding]::Latin1.GetString([System.IO.File]::ReadAllBytes($File))
    $text.Contains([string]::new([char]$Value, $Count))
}

Export-ModuleMember -Function Start-LoopbackCapture, Stop-LoopbackCapture, Invoke-TlsProbe, Test-NbdProbe, Get-CaptureSummary, Test-BytesContain
