# Captures for the TLS suites: a tshark capture that is always stopped, its TCP streams put back
# in order, and a walk over them as TLS records. The TLS clients that knock on the ports are in
# TlsProbes.psm1.

$script:Captures = [System.Collections.Generic.List[System.Diagnostics.Process]]::new()

function Start-PortCapture {
    <#
    tshark on an interface (lo unless -Interface) of -Namespace when given, only the given ports;
    returns once tshark says it captures. A 512 MiB capture buffer: a resume's migration comes as a burst of 150 MB, and on a
    loaded machine a smaller buffer overflows before tshark gets the CPU (holes in the stream).
    #>
    param([Parameter(Mandatory)] [int[]] $Port, [Parameter(Mandatory)] [string] $File, [string] $Namespace, [string] $Interface = 'lo')
    $filter = 'tcp and (' + (($Port | ForEach-Object { "port $_" }) -join ' or ') + ')'
    $argv = @('tshark', '-i', $Interface, '-n', '-q', '-B', '512', '-f', $filter, '-w', $File)
    if ($Namespace) { $argv = @('ip', 'netns', 'exec', $Namespace) + $argv }
    $psi = [System.Diagnostics.ProcessStartInfo]::new($argv[0])
    foreach ($a in $argv[1..($argv.Count - 1)]) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $script:Captures.Add($p)
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (-not (Test-Path $File)) {
        if ($p.HasExited) { throw "tshark exited: $($p.StandardError.ReadToEnd())" }
        if ([DateTime]::UtcNow -gt $deadline) { Stop-PortCapture $p; throw 'tshark did not start capturing in 20 s.' }
        Start-Sleep -Milliseconds 100
    }
    # dumpcap creates the file before its filter is live; a moment more so the first handshake is in it.
    Start-Sleep -Milliseconds 500
    $p
}

function Stop-PortCapture {
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

function Get-CaptureStream {
    <#
    Every TCP connection of the capture as two byte streams (one per direction, with its
    addresses and ports), put back in sequence order: each segment at its place, retransmissions
    once. tshark's own reassembly is off, so each frame shows its whole payload (with it on,
    frames inside a reassembled TLS record carry no tcp.payload field, and a walk over frame
    payloads loses its place). Segments the capture dropped (a loaded machine) leave holes: the
    stream is a list of contiguous Chunks, and Missing counts the bytes of the holes.
    #>
    param([Parameter(Mandatory)] [string] $File)
    $rows = & tshark -r $File -n -o tcp.desegment_tcp_streams:FALSE -o tcp.relative_sequence_numbers:TRUE -Y 'tcp.len>0' `
        -T fields -E separator=';' -e tcp.stream -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e tcp.seq -e tcp.payload 2>$null
    $segments = [ordered]@{}
    foreach ($r in $rows) {
        $f = $r -split ';'
        $key = "$($f[0])/$($f[1])/$($f[2])/$($f[3])/$($f[4])"
        if (-not $segments.Contains($key)) { $segments[$key] = [System.Collections.Generic.List[object]]::new() }
        $segments[$key].Add([pscustomobject]@{ Seq = [long]$f[5]; Bytes = [Convert]::FromHexString(($f[6] -replace ':', '')) })
    }
    foreach ($key in $segments.Keys) {
        $stream, $srcAddress, $src, $dstAddress, $dst = $key -split '/'
        $chunks = [System.Collections.Generic.List[byte[]]]::new()
        $ms = [System.IO.MemoryStream]::new()
        $missing = 0
        $next = $null
        foreach ($seg in ($segments[$key] | Sort-Object Seq)) {
            if ($null -eq $next) { $next = $seg.Seq }
            $end = $seg.Seq + $seg.Bytes.Length
            if ($end -le $next) { continue }
            if ($seg.Seq -gt $next) {
                $missing += $seg.Seq - $next
                $chunks.Add($ms.ToArray()); $ms = [System.IO.MemoryStream]::new()
                $next = $seg.Seq
            }
            $from = [int]($next - $seg.Seq)
            $ms.Write($seg.Bytes, $from, $seg.Bytes.Length - $from)
            $next = $end
        }
        $chunks.Add($ms.ToArray())
        [pscustomobject]@{ Stream = [int]$stream; SrcAddress = $srcAddress; SrcPort = [int]$src; DstAddress = $dstAddress; DstPort = [int]$dst; Chunks = $chunks.ToArray(); Missing = $missing }
    }
}

function Test-RecordHeader {
    # A TLS record header at $i: content type 20-23, version 3.x, a length TLS allows.
    param([byte[]] $Bytes, [int] $i)
    $i + 5 -le $Bytes.Length -and $Bytes[$i] -ge 20 -and $Bytes[$i] -le 23 -and $Bytes[$i + 1] -eq 3 -and $Bytes[$i + 2] -le 4 -and ($Bytes[$i + 3] * 256 + $Bytes[$i + 4]) -le 18432
}

function Find-RecordStart {
    <#
    After a hole: the first offset from which record headers follow one another (at least three
    of them, or up to the chunk's end): where the walk picks up again. It must lie within one
    record's length of the hole; when there is none, 0, so that the walk reads the whole chunk as
    clear text rather than skip it.
    #>
    param([byte[]] $Bytes)
    for ($k = 0; $k + 5 -le $Bytes.Length -and $k -le 18437; $k++) {
        $i = $k; $n = 0
        while ((Test-RecordHeader $Bytes $i) -and $n -lt 3) { $i += 5 + ($Bytes[$i + 3] * 256 + $Bytes[$i + 4]); $n++ }
        if ($n -ge 3 -or ($n -ge 1 -and $i -ge $Bytes.Length)) { return $k }
    }
    0
}

function Find-HandshakeStart {
    # The offset of the first TLS handshake record header within the first Limit bytes, or -1.
    param([byte[]] $Bytes, [int] $Limit)
    for ($k = 0; $k -le $Limit -and $k + 5 -le $Bytes.Length; $k++) {
        if ($Bytes[$k] -eq 22 -and (Test-RecordHeader $Bytes $k)) { return $k }
    }
    -1
}

function Get-CaptureSummary {
    <#
    Per port: walks each direction of each TCP connection as a sequence of TLS records (type,
    version, length), and says how many connections began with a ClientHello, how many records
    were read, and how many bytes were not inside a record (ClearBytes). NBD negotiates STARTTLS in
    clear first: on a -StartTlsPort the walk starts at the first TLS handshake record of that
    direction, which must come within its first PreambleLimit bytes (NBD's negotiation up to
    STARTTLS takes a few dozen; the bytes before it are PreambleBytes); a direction without one
    there is clear text, all of it. After a hole in the capture the walk resumes where records
    follow one another again; the bytes of the record the hole cut are counted as UnreadBytes,
    not as clear text.
    #>
    param([Parameter(Mandatory)] [AllowEmptyCollection()] [object[]] $Stream, [Parameter(Mandatory)] [int[]] $Port, [int[]] $StartTlsPort = @(), [int] $PreambleLimit = 256)
    foreach ($p in $Port) {
        $hellos = 0; $records = 0; $clear = 0; $payload = 0; $missing = 0; $unread = 0; $flows = 0; $preamble = 0
        foreach ($s in $Stream | Where-Object { $_.SrcPort -eq $p -or $_.DstPort -eq $p }) {
            $flows++
            $missing += $s.Missing
            for ($c = 0; $c -lt $s.Chunks.Count; $c++) {
                $bytes = $s.Chunks[$c]
                $payload += $bytes.Length
                $i = 0
                if ($c -gt 0) { $i = Find-RecordStart $bytes; $unread += $i }
                elseif ($p -in $StartTlsPort) {
                    $i = Find-HandshakeStart $bytes $PreambleLimit
                    # No TLS at all: a client that never asked for it, or a server answering one.
                    if ($i -lt 0) { $clear += $bytes.Length; continue }
                    $preamble += $i
                }
                $first = $c -eq 0
                while ($i + 5 -le $bytes.Length) {
                    if ($bytes[$i] -lt 20 -or $bytes[$i] -gt 23 -or $bytes[$i + 1] -ne 3) { break }
                    if ($first -and $s.DstPort -eq $p -and $bytes[$i] -eq 22 -and $i + 5 -lt $bytes.Length -and $bytes[$i + 5] -eq 1) { $hellos++ }
                    $first = $false
                    $records++
                    $i += 5 + ($bytes[$i + 3] * 256 + $bytes[$i + 4])
                }
                # Only a record cut by the end of the chunk may be left over; any other byte is clear text.
                $cut = $i + 5 -gt $bytes.Length -or ($bytes[$i] -ge 20 -and $bytes[$i] -le 23 -and $bytes[$i + 1] -eq 3)
                if ($i -lt $bytes.Length -and -not $cut) { $clear += $bytes.Length - $i }
            }
        }
        [pscustomobject]@{ Port = $p; Directions = $flows; ClientHellos = $hellos; Records = $records; PayloadBytes = $payload; ClearBytes = $clear; PreambleBytes = $preamble; MissingBytes = $missing; UnreadBytes = $unread }
    }
}

function Test-StreamContains {
    <# True when a stream on the port holds the bytes (ASCII) of one of the markers anywhere. #>
    param([Parameter(Mandatory)] [object[]] $Stream, [Parameter(Mandatory)] [int] $Port, [Parameter(Mandatory)] [string[]] $Marker)
    foreach ($s in $Stream | Where-Object { $_.SrcPort -eq $Port -or $_.DstPort -eq $Port }) {
        foreach ($chunk in $s.Chunks) {
            # Latin-1 maps each byte to one char, so a string search is a byte search.
            $text = [System.Text.Encoding]::Latin1.GetString($chunk)
            foreach ($m in $Marker) { if ($text.Contains($m, [StringComparison]::Ordinal)) { return $true } }
        }
    }
    $false
}

function Wait-Checkpoint {
    <# Until the primary has gone through a whole checkpoint (STOP then RESUME) after this call. #>
    param([Parameter(Mandatory)] $Node, [int] $TimeoutSec = 30)
    $from = $Node.Session.LastEventSequence
    $stop = Wait-QmpEvent -Session $Node.Session -Name STOP -AfterSequence $from -TimeoutSec $TimeoutSec -ErrorAction Stop
    $null = Wait-QmpEvent -Session $Node.Session -Name RESUME -AfterSequence $stop.Sequence -TimeoutSec $TimeoutSec -ErrorAction Stop
}

function Test-BytesContain {
    # True when the file holds Count bytes of Value in a row anywhere.
    param([Parameter(Mandatory)] [string] $File, [byte] $Value, [int] $Count)
    $text = [System.Text.Encoding]::Latin1.GetString([System.IO.File]::ReadAllBytes($File))
    $text.Contains([string]::new([char]$Value, $Count))
}

Export-ModuleMember -Function Start-PortCapture, Stop-PortCapture, Get-CaptureStream, Get-CaptureSummary, Test-StreamContains, Test-BytesContain, Wait-Checkpoint
