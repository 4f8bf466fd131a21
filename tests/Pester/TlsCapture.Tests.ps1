# The walk of the TLS suites' captures (Get-CaptureSummary in TlsHelpers.psm1) on byte streams made
# by hand: what it must count as clear text, as TLS records, as the STARTTLS preamble and as the
# bytes a capture hole cut, so that the suites' "ClearBytes -eq 0" can fail.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TlsHelpers.psm1') -Force

    function New-Record {
        # A TLS record: type, version 3.3, length, and a body whose first byte is First (1: a ClientHello).
        param([byte] $Type, [int] $Length, [byte] $First = 0x42)
        $b = [byte[]]::new(5 + $Length)
        $b[0] = $Type; $b[1] = 3; $b[2] = 3; $b[3] = [byte]($Length -shr 8); $b[4] = [byte]($Length -band 0xff)
        for ($k = 5; $k -lt $b.Length; $k++) { $b[$k] = 0x42 }
        if ($Length) { $b[5] = $First }
        $b
    }

    function Join-Bytes {
        param([object[]] $Part)
        $ms = [System.IO.MemoryStream]::new()
        foreach ($p in $Part) { $bytes = [byte[]]$p; $ms.Write($bytes, 0, $bytes.Length) }
        , $ms.ToArray()
    }

    function New-Direction {
        # One direction of a connection as Get-CaptureStream gives it: its chunks (a hole between each two).
        param([int] $SrcPort, [int] $DstPort, [object[]] $Chunk, [long] $Missing = 0)
        $chunks = [System.Collections.Generic.List[byte[]]]::new()
        foreach ($c in $Chunk) { $chunks.Add([byte[]]$c) }
        [pscustomobject]@{ Stream = 0; SrcAddress = '10.0.0.1'; SrcPort = $SrcPort; DstAddress = '10.0.0.2'; DstPort = $DstPort; Chunks = $chunks.ToArray(); Missing = $Missing }
    }

    $ascii = [System.Text.Encoding]::ASCII
    # NBD's fixed newstyle negotiation: the server's greeting, the client's flags and an option
    # (NBD_OPT_STARTTLS = 5, or NBD_OPT_GO = 7 from a client without TLS), the server's reply.
    $greeting = Join-Bytes @($ascii.GetBytes('NBDMAGIC'), $ascii.GetBytes('IHAVEOPT'), [byte[]](0, 3))
    $flags = [byte[]](0, 0, 0, 3)
    $optStartTls = Join-Bytes @($ascii.GetBytes('IHAVEOPT'), [byte[]](0, 0, 0, 5, 0, 0, 0, 0))
    $optGo = Join-Bytes @($ascii.GetBytes('IHAVEOPT'), [byte[]](0, 0, 0, 7, 0, 0, 0, 11, 0, 0, 0, 7), $ascii.GetBytes('parent0'))
    $replyAck = Join-Bytes @([byte[]](0, 3, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0))
    $replyTlsRequired = Join-Bytes @([byte[]](0, 3, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0, 0, 7, 0x80, 0, 0, 5, 0, 0, 0, 0))
}

Describe 'The capture walk (Get-CaptureSummary)' -Tag 'Tls', 'Unit' {
    It 'counts every byte of an NBD connection that never starts TLS as clear text' {
        $client = New-Direction 40000 10809 @(, (Join-Bytes @($flags, $optGo)))
        $server = New-Direction 10809 40000 @(, (Join-Bytes @($greeting, $replyTlsRequired)))
        $row = Get-CaptureSummary -Stream $client, $server -Port 10809 -StartTlsPort 10809
        $row.Directions | Should -Be 2
        $row.ClientHellos | Should -Be 0
        $row.Records | Should -Be 0
        $row.ClearBytes | Should -Be ($flags.Length + $optGo.Length + $greeting.Length + $replyTlsRequired.Length)
        $row.ClearBytes | Should -Be $row.PayloadBytes
    }

    It 'reads an NBD connection that negotiates STARTTLS as its clear preamble, then TLS records only' {
        $client = New-Direction 40001 10809 @(, (Join-Bytes @($flags, $optStartTls, (New-Record 22 300 1), (New-Record 23 4000))))
        $server = New-Direction 10809 40001 @(, (Join-Bytes @($greeting, $replyAck, (New-Record 22 1200 2), (New-Record 23 65), (New-Record 23 16384))))
        $row = Get-CaptureSummary -Stream $client, $server -Port 10809 -StartTlsPort 10809
        $row.ClientHellos | Should -Be 1
        $row.Records | Should -Be 5
        $row.ClearBytes | Should -Be 0
        $row.PreambleBytes | Should -Be ($flags.Length + $optStartTls.Length + $greeting.Length + $replyAck.Length)
    }

    It 'counts the clear text after a STARTTLS preamble that runs too long for NBD' {
        $chatter = [byte[]]::new(600)
        $client = New-Direction 40002 10809 @(, (Join-Bytes @($flags, $optStartTls, $chatter, (New-Record 22 300 1))))
        $row = Get-CaptureSummary -Stream $client -Port 10809 -StartTlsPort 10809
        $row.ClearBytes | Should -Be $row.PayloadBytes
    }

    It 'resumes after a hole at the next run of records: the cut record''s tail is unread, not clear' {
        $cut = New-Record 23 2000
        $tail = 1500
        $before = Join-Bytes @((New-Record 22 250 1), (New-Record 23 100), $cut[0..($cut.Length - $tail - 1)])
        $after = Join-Bytes @($cut[($cut.Length - $tail)..($cut.Length - 1)], (New-Record 23 800), (New-Record 23 800), (New-Record 23 30), (New-Record 21 2))
        $client = New-Direction 40003 8443 @($before, $after) -Missing 4096
        $row = Get-CaptureSummary -Stream $client -Port 8443
        $row.ClientHellos | Should -Be 1
        $row.Records | Should -Be 7 -Because 'three records (the last one cut by the hole) before it, four after'
        $row.ClearBytes | Should -Be 0
        $row.UnreadBytes | Should -Be $tail
        $row.MissingBytes | Should -Be 4096
    }

    It 'counts what follows the records of a TLS connection that turns clear' {
        $clear = $ascii.GetBytes('REC 104729 in clear after the handshake')
        $client = New-Direction 40004 8443 @(, (Join-Bytes @((New-Record 22 250 1), (New-Record 23 100), $clear)))
        $row = Get-CaptureSummary -Stream $client -Port 8443
        $row.Records | Should -Be 2
        $row.ClearBytes | Should -Be $clear.Length
    }

    It 'sees clear text after a hole where no run of records follows' {
        $garbage = $ascii.GetBytes(('clear text, no record header here ' * 20))
        $client = New-Direction 40005 8443 @((Join-Bytes @((New-Record 22 250 1))), $garbage) -Missing 100
        $row = Get-CaptureSummary -Stream $client -Port 8443
        $row.ClearBytes | Should -Be $garbage.Length
        $row.UnreadBytes | Should -Be 0
    }
}
