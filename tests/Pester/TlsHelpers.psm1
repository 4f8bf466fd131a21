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
    Per port: walks each direction of each TCP connection as a sequence of TLS records (type,
    version, length), and says how many connections began with a ClientHello, how many records
    were read, and how many bytes were not inside a record. NBD negotiates STARTTLS in clear first:
    with -StartTlsPort the walk starts at the first TLS handshake record of that direction.
    #>
    param([Parameter(Mandatory)] [string] $File, [Parameter(Mandatory)] [int[]] $Port, [int[]] $StartTlsPort = @())
    $rows = & tshark -r $File -n -Y 'tcp.len>0' -T fields -E separator=';' -e tcp.stream -e tcp.srcport -e tcp.dstport -e tcp.payload 2>$null
    $flows = [ordered]@{}
    foreach ($r in $rows) {
        $f = $r -split ';'
        $key = "$($f[0])/$($f[1])/$($f[2])"
        if (-not $flows.Contains($key)) { $flows[$key] = [System.Text.StringBuilder]::new() }
        $null = $flows[$key].Append(($f[3] -replace ':', ''))
    }
    foreach ($p in $Port) {
        $hellos = 0; $records = 0; $clear = 0; $payload = 0
        foreach ($key in $flows.Keys) {
            $src, $dst = ($key -split '/')[1, 2]
            if ($src -ne "$p" -and $dst -ne "$p") { continue }
            $bytes = [Convert]::FromHexString($flows[$key].ToString())
            $payload += $bytes.Length
            $i = 0
            if ($p -in $StartTlsPort) {
                while ($i + 2 -lt $bytes.Length -and -not ($bytes[$i] -eq 0x16 -and $bytes[$i + 1] -eq 3)) { $i++ }
            }
            $first = $true
            while ($i + 5 -le $bytes.Length) {
                if ($bytes[$i] -lt 20 -or $bytes[$i] -gt 23 -or $bytes[$i + 1] -ne 3) { break }
                if ($first -and $dst -eq "$p" -and $bytes[$i] -eq 22 -and $i + 5 -lt $bytes.Length -and $bytes[$i + 5] -eq 1) { $hellos++ }
                $first = $false
                $records++
                $i += 5 + ($bytes[$i + 3] * 256 + $bytes[$i + 4])
            }
            # A record cut by the end of the capture is not clear text; anything else left is.
            if ($i -lt $bytes.Length -and -not ($i + 5 -le $bytes.Length -and $bytes[$i] -ge 20 -and $bytes[$i] -le 23 -and $bytes[$i + 1] -eq 3)) {
                if ($p -notin $StartTlsPort -or $records -gt 0) { $clear += $bytes.Length - $i }
            }
        }
        [pscustomobject]@{ Port = $p; ClientHellos = $hellos; Records = $records; PayloadBytes = $payload; ClearBytes = $clear }
    }
}

function Test-BytesContain {
    # True when the file holds Count bytes of Value in a row anywhere.
    param([Parameter(Mandatory)] [string] $File, [byte] $Value, [int] $Count)
    $text = [System.Text.Encoding]::Latin1.GetString([System.IO.File]::ReadAllBytes($File))
    $text.Contains([string]::new([char]$Value, $Count))
}

Export-ModuleMember -Function Start-LoopbackCapture, Stop-LoopbackCapture, Invoke-TlsProbe, Test-NbdProbe, Get-CaptureSummary, Test-BytesContain
