# Remote QMP over TLS: two sites as two hosts (network namespaces rqa and rqb), and one pwsh in a
# third (rqc) that reaches them only through their remote monitors. Each host starts its own QEMU
# (as its service manager would); everything COLO does is driven from rqc, on QEMU 11, TLS on every
# link, checkpoints every 2 s. A capture on rqc's bridge sees the monitors' traffic: TLS only, and
# a marker sent through them never in clear (a plain TCP monitor, captured alike, shows it).

BeforeDiscovery {
    $script:HasTools = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore) -and [bool](Get-Command openssl -ErrorAction Ignore) -and [bool](Get-Command ip -ErrorAction Ignore) -and [bool](Get-Command tshark -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'RemoteHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TlsHelpers.psm1') -Force
    Import-ColoPSUnderTest

    function New-RemoteTestConfig {
        param([Parameter(Mandatory)] [string] $Directory, [string] $Name = 'rq', [hashtable] $ManagementA = @{ Address = '10.79.0.1'; Port = 25010 }, [hashtable] $ManagementB = @{ Address = '10.79.0.2'; Port = 25011 })
        $ports = @{ CompareIn = 25001; Mirror = 25003; Compare = 25004; CompareOut = 25005; Migration = 25008; Nbd = 25009 }
        $a = @{ Address = '10.79.0.1'; WorkDirectory = "$Directory/a" }
        $b = @{ Address = '10.79.0.2'; WorkDirectory = "$Directory/b" }
        if ($ManagementA) { $a.Management = $ManagementA }
        if ($ManagementB) { $b.Management = $ManagementB }
        New-ColoConfig -Name $Name -MemoryMB 128 -DiskSizeGB 1 -Ports $ports -CheckpointIntervalMs 2000 -SiteA $a -SiteB $b -ErrorAction Stop
    }

    # The steps each pwsh runs. Status reduces a ColoStatus to what the assertions read.
    $statusOf = 'function Status($n) { $s = Get-ColoStatus -Node $n; [ordered]@{ Name = $n.Name; Remote = $n.IsRemote; Endpoint = "$($n.Session.Endpoint)"; Role = "$($s.Role)"; Protection = "$($s.Protection)"; Mode = "$($s.Mode)"; Checkpoints = [long]$s.CheckpointCount; Encrypted = @($s.Links | Where-Object Encrypted | ForEach-Object Name) } }
function WaitCheckpoints($n) { $until = (Get-Date).AddSeconds(60); do { Start-Sleep -Milliseconds 500; $s = Get-ColoStatus -Node $n } until ($s.CheckpointCount -ge 2 -or (Get-Date) -gt $until) }'
    $script:Steps = @{
        HostSecondary = '$n = Start-ColoSecondary -Config $Config -Site $Arg1; @{ Pid = $n.ProcessId }'
        HostPrimary   = '$cl = Get-ColoCommandLine -Config $Config -Site $Arg1 -Role Primary
$dir = $Config.GetSite($Arg1).WorkDirectory; $null = New-Item -ItemType Directory -Force $dir; chmod 700 $dir
Remove-Item $Config.PidFileOf($Arg1) -ErrorAction Ignore
& qemu-img create -q -f qcow2 $Config.DiskPathOf($Arg1) 1G; if ($LASTEXITCODE) { throw "qemu-img failed" }
& sh -c $cl.CommandLine; if ($LASTEXITCODE) { throw "QEMU did not start: $(Get-Content $Config.QemuLogOf($Arg1) -Raw)" }
@{ Pid = [int](Get-Content $Config.PidFileOf($Arg1)) }'
        Start         = $statusOf + '
# This host is an operator''s: no QEMU on PATH, neither site''s certificate folder, and the
# configuration imported all the same (the wrapper did, into $Config). Starting a site here is
# still refused, by the checks of the host that starts it.
$e = $null
Get-ColoCommandLine -Config $Config -Site B -Role Secondary -ErrorAction SilentlyContinue -ErrorVariable e | Out-Null
$operator = [ordered]@{ Imported = $Config.Name; Qemu = "$(Get-Command qemu-system-x86_64, qemu-img -ErrorAction Ignore)"; SiteFolders = @(foreach ($s in "A", "B") { Test-Path -LiteralPath $Config.Tls.GetSite($s).CertificateDirectory }); StartHere = @($e.Exception.Problems | ForEach-Object ErrorId | Sort-Object -Unique); StartHereId = "$($e | Select-Object -First 1 | ForEach-Object FullyQualifiedErrorId)" }
$a, $b = Connect-ColoNode -Config $Config -Site A, B -Remote -CertificateDirectory $Arg1
$p = Start-ColoPrimary -Config $Config -Site A -Session $a.Session -Secondary $b -Confirm:$false
WaitCheckpoints $p
@{ Operator = $operator; Primary = Status $p; Secondary = Status $b }'
        Failover      = $statusOf + '
$n = Connect-ColoNode -Config $Config -Site $Arg2 -Remote -CertificateDirectory $Arg1
$err = $null
$before = "$($n.Role)"
Invoke-ColoFailover -Node $n -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable err | Out-Null
@{ ErrorId = "$($err | Select-Object -First 1 | ForEach-Object FullyQualifiedErrorId)"; Error = "$($err | Select-Object -First 1)"; RoleBefore = $before; Node = Status $n }'
        Resume        = $statusOf + '
$other = if ($Arg2 -eq "A") { "B" } else { "A" }
$s, $n = Connect-ColoNode -Config $Config -Site $Arg2, $other -Remote -CertificateDirectory $Arg1
# Without the new secondary as a node, a remote survivor cannot find it: refused before anything runs.
$e = $null
Resume-ColoReplication -Node $s -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable e | Out-Null
Resume-ColoReplication -Node $s -Secondary $n -Confirm:$false | Out-Null
WaitCheckpoints $s
@{ WithoutSecondary = "$($e | Select-Object -First 1 | ForEach-Object FullyQualifiedErrorId)"; Primary = Status $s; Secondary = Status $n }'
        Status        = $statusOf + '
@(Connect-ColoNode -Config $Config -Remote -CertificateDirectory $Arg1 | ForEach-Object { Status $_ })'
        Stop          = '$nodes = Connect-ColoNode -Config $Config -Remote -CertificateDirectory $Arg1; Stop-ColoNode -Node $nodes -Confirm:$false; @{ Stopped = @($nodes | ForEach-Object { "$($_.Role)" }) }'
    }

    function Invoke-Host { param([string] $Site, [string] $Step) Invoke-InNamespace -Namespace $rq[$Site] -Script $Steps[$Step] -ConfigPath $cfgPath -Directory $tmp -Parameters @{ Arg1 = $Site } }
    # The operator's host holds its own certificate folder and nothing of the sites: the pair's
    # certificate tree is hidden there and QEMU is not on its PATH.
    function Invoke-Operator { param([string] $Step, [string] $Site = '') Invoke-InNamespace -Namespace $rq.C -Script $Steps[$Step] -ConfigPath $cfgPath -Directory $tmp -Parameters @{ Arg1 = $operatorCerts; Arg2 = $Site } -Hide "$tmp/certs" -SearchPath $operatorPath }

    function Stop-Site {
        # The host dies: its QEMU is killed from outside, no ColoPS involved.
        param([string] $Site)
        $pids = @(Get-NamespaceQemu $rq[$Site])
        $pids | Should -HaveCount 1
        & kill -KILL $pids[0]
        $until = [DateTime]::UtcNow.AddSeconds(15)
        while ((Test-Path "/proc/$($pids[0])") -and [DateTime]::UtcNow -lt $until) { Start-Sleep -Milliseconds 100 }
        "/proc/$($pids[0])" | Should -Not -Exist
    }

    function Assert-Pair {
        param($Result, [string] $PrimarySite)
        Write-Host "primary $($Result.Primary.Name) ($($Result.Primary.Endpoint)): $($Result.Primary.Protection), $($Result.Primary.Checkpoints) checkpoints, encrypted $($Result.Primary.Encrypted -join '/'); secondary $($Result.Secondary.Name): $($Result.Secondary.Protection)"
        $Result.Primary.Name | Should -BeExactly "rq-$PrimarySite"
        foreach ($n in $Result.Primary, $Result.Secondary) {
            $n.Remote | Should -BeTrue
            $n.Endpoint | Should -Match '^tls:10\.79\.0\.[12]:2501[01]$'
            $n.Protection | Should -Be 'Protected'
        }
        $Result.Primary.Role | Should -Be 'Primary'
        $Result.Secondary.Role | Should -Be 'Secondary'
        $Result.Primary.Checkpoints | Should -BeGreaterOrEqual 2 -Because 'the pair checkpoints every 2 s over TLS'
        $Result.Primary.Encrypted | Should -Contain 'Migration'
        $Result.Primary.Encrypted | Should -Contain 'Nbd'
    }
}

Describe 'One pwsh drives a two-host pair over remote QMP' -Tag 'Tls', 'Remote', 'E2E', 'Colo' -Skip:(-not $HasTools) {
    BeforeAll {
        $tmp = New-TestDirectory
        $script:rq = Get-RemoteNamespace
        New-RemoteNetwork
        $cfg = New-RemoteTestConfig -Directory $tmp | New-ColoCertificate -Path "$tmp/certs" -ErrorAction Stop
        $cfgPath = "$tmp/rq.json"
        $cfg | Export-ColoConfig -Path $cfgPath
        $operatorCerts = "$tmp/operator-host/certs"
        $null = New-Item -ItemType Directory -Force (Split-Path $operatorCerts)
        Copy-Item -Recurse "$tmp/certs/operator" $operatorCerts
        $operatorPath = New-QemuFreePath -Directory "$tmp/operator-host/bin"
        # Another pair's CA and operator: a client that is not ours.
        $null = New-RemoteTestConfig -Directory "$tmp/x" -Name evil | New-ColoCertificate -Path "$tmp/evil" -ErrorAction Stop
        # The monitors' traffic as it crosses rqc's bridge, and the plain monitor of the control (25012).
        $monitorPorts = 25010, 25011
        $plainPort = 25012
        $marker = 'colops-marker-' + [guid]::NewGuid().ToString('N').Substring(0, 12)
        $pcap = "$tmp/monitors.pcap"
        $capture = Start-PortCapture -Port ($monitorPorts + $plainPort) -File $pcap -Namespace $rq.C -Interface rqbr
    }
    AfterAll {
        # Each step even when one before it failed: the namespaces and their QEMUs must go.
        try { Stop-PortCapture }
        finally {
            try { Remove-RemoteNetwork } finally { Remove-TestDirectory $tmp }
        }
    }

    It 'makes an operator certificate and puts each monitor''s address in its site''s certificate' {
        $cfg.Tls.OperatorIdentities | Should -BeExactly @('CN=rq-operator')
        foreach ($f in 'ca-cert.pem', 'client-cert.pem', 'client-key.pem') { "$tmp/certs/operator/$f" | Should -Exist }
        (Get-Item "$tmp/certs/operator/client-key.pem").UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite')
        (& openssl x509 -in "$tmp/certs/operator/client-cert.pem" -noout -subject) | Should -Match 'CN\s*=\s*rq-operator'
        & openssl verify -CAfile "$tmp/certs/ca/ca-cert.pem" "$tmp/certs/operator/client-cert.pem" | Should -Match ': OK$'
        $cl = Get-ColoCommandLine -Config $cfg -Site B -Role Secondary
        $cl.Arguments | Should -Contain 'monitor-qmp,id=mon-mgmt0,chardev=mgmt0' -Because 'QEMU 11 takes the monitor as an object (-mon is deprecated there)'
        $cl.Arguments | Should -Contain 'socket,id=mgmt0,host=10.79.0.2,port=25011,server=on,wait=off,tls-creds=tls-server0,tls-authz=authz-mgmt0'
    }

    It 'starts the pair from rqc: each host starts its QEMU, the operator protects the VM over remote QMP' {
        Invoke-Host B HostSecondary | Out-Null
        Invoke-Host A HostPrimary | Out-Null
        $r = Invoke-Operator Start
        $r.Operator | Format-List | Out-String | Write-Host
        $r.Operator.Imported | Should -BeExactly 'rq' -Because 'Import-ColoConfig takes the pair''s configuration on a host with no QEMU and no site folder'
        $r.Operator.Qemu | Should -BeNullOrEmpty -Because 'the operator''s PATH has no QEMU'
        $r.Operator.SiteFolders | Should -Be @($false, $false) -Because 'neither site''s certificate folder is on the operator''s host'
        $r.Operator.StartHereId | Should -BeExactly 'ColoConfigBinaryNotFound,ColoPS.Commands.GetColoCommandLineCommand'
        $r.Operator.StartHere | Should -Be @('ColoConfigBinaryNotFound', 'ColoConfigTlsFileMissing') -Because 'a site started here still needs its QEMU and its own keys'
        Assert-Pair $r A
        # Each host listens on its own address only (COLO ports and its monitor), never on every
        # interface; the compare loops, which carry the guest's packets in clear, only on loopback.
        $loops = @($cfg.Ports.CompareIn, $cfg.Ports.CompareOut)
        foreach ($ns in $rq.A, $rq.B) {
            $listen = @(& ip netns exec $ns ss -ltnH | ForEach-Object { ($_ -split '\s+')[3] })
            $listen | Should -Contain $(if ($ns -eq $rq.A) { '10.79.0.1:25010' } else { '10.79.0.2:25011' })
            $listen | Where-Object { $_ -notmatch '^10\.79\.0\.[12]:250\d\d$' -and $_ -notin @($loops | ForEach-Object { "127.0.0.1:$_" }) } | Should -BeNullOrEmpty
            $listen | Where-Object { $_ -match '^10\.79\.' -and [int]($_ -split ':')[-1] -in $loops } | Should -BeNullOrEmpty
        }
        # The primary (A) has both loops, on loopback.
        $a = @(& ip netns exec $rq.A ss -ltnH | ForEach-Object { ($_ -split '\s+')[3] })
        foreach ($port in $loops) { $a | Should -Contain "127.0.0.1:$port" }
    }

    It 'refuses clients without a valid certificate on both remote monitors while the pair keeps checkpointing' {
        # The checkpoints are counted beside the operator: this process on site A's local monitor
        # (its unix socket), not on the remote monitors the probes knock on.
        $watch = Connect-ColoNode -Config $cfg -Site A
        try {
            Wait-Checkpoint $watch
            $before = [long](Get-ColoStatus -Node $watch).CheckpointCount
            $refusals = Invoke-InNamespace -Namespace $rq.C -ConfigPath $cfgPath -Directory $tmp -Parameters @{ Arg1 = $tmp } -Script '
$r = [ordered]@{}
$cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile("$Arg1/certs/operator/client-cert.pem", "$Arg1/certs/operator/client-key.pem")
$evilCert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile("$Arg1/evil/operator/client-cert.pem", "$Arg1/evil/operator/client-key.pem")
$pairCa = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new("$Arg1/certs/ca/ca-cert.pem")
$evilCa = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new("$Arg1/evil/ca/ca-cert.pem")
foreach ($m in @(@{ Site = "A"; Address = "10.79.0.1"; Port = 25010 }, @{ Site = "B"; Address = "10.79.0.2"; Port = 25011 })) {
    function Try-Connect([hashtable] $p) { try { $s = Connect-QmpSession -HostName $m.Address -Port $m.Port -TimeoutSec 5 @p -ErrorAction Stop; Disconnect-QmpSession $s -Confirm:$false; "connected" } catch { "$($_.FullyQualifiedErrorId) | $_" } }
    $x = [ordered]@{ Endpoint = "tls:$($m.Address):$($m.Port)" }
    # The monitor judges: an operator certificate of another CA (we trust the pair''s CA, so our side is satisfied).
    $x.ClientOfOtherCa = Try-Connect @{ Certificate = $evilCert; CertificateAuthority = $pairCa }
    # The monitor judges: the right CA, but a site''s certificate, not an operator''s (tls-authz).
    $x.SiteCertificate = Try-Connect @{ CertificateDirectory = "$Arg1/certs/A" }
    # We judge: the monitor''s certificate does not chain to the CA we were given, or names another host.
    $x.ServerOfOtherCa = Try-Connect @{ Certificate = $cert; CertificateAuthority = $evilCa }
    $x.ServerForOtherName = Try-Connect @{ Certificate = $cert; CertificateAuthority = $pairCa; ServerName = "10.79.0.9" }
    $x.Plain = try { $s = Connect-QmpSession -HostName $m.Address -Port $m.Port -TimeoutSec 5 -ErrorAction Stop; Disconnect-QmpSession $s -Confirm:$false; "connected" } catch { "$($_.FullyQualifiedErrorId) | $_" }
    $x.NoCertificate = (& timeout 10 sh -c "(sleep 2; echo x; sleep 2) | openssl s_client -connect $($m.Address):$($m.Port) -CAfile $Arg1/certs/ca/ca-cert.pem -ign_eof 2>&1") -join "`n"
    # The positive control: the operator with the pair''s CA gets in.
    $x.Valid = Try-Connect @{ Certificate = $cert; CertificateAuthority = $pairCa }
    $r[$m.Site] = $x
}
$r'
            Wait-Checkpoint $watch
            $after = [long](Get-ColoStatus -Node $watch).CheckpointCount
            (Get-ColoStatus -Node $watch).Protection | Should -Be 'Protected'
        }
        finally { Disconnect-QmpSession -Session $watch.Session -Confirm:$false }
        foreach ($site in 'A', 'B') {
            $x = $refusals.$site
            $x | Format-List | Out-String | Write-Host
            $at = [regex]::Escape($x.Endpoint)
            $x.ClientOfOtherCa | Should -Match "^QmpTlsFailed,ColoPS.Commands.ConnectQmpSessionCommand \| The QMP monitor at $at ended the TLS session" -Because "site $site's monitor refuses a certificate of another CA"
            $x.SiteCertificate | Should -Match '^QmpTlsFailed,.*ended the TLS session' -Because 'a site''s own client certificate is of the right CA but not an operator''s'
            $x.ServerOfOtherCa | Should -Match '^QmpTlsFailed,.*does not chain to the given CA'
            $x.ServerForOtherName | Should -Match '^QmpTlsFailed,.*is not for 10\.79\.0\.9'
            $x.Plain | Should -Match '^Qmp(Greeting|Negotiation)Failed,'
            $x.NoCertificate | Should -Not -Match '"QMP"' -Because 'no greeting reaches a client without a certificate'
            $x.NoCertificate | Should -Match 'CONNECTED'
            $x.NoCertificate | Should -Match 'unexpected eof while reading|alert' -Because 'QEMU ends the session of a client without a certificate'
            $x.Valid | Should -BeExactly 'connected' -Because "the positive control: the operator with the pair's CA gets into site $site's monitor"
        }
        Write-Host "checkpoints of the pair seen on site A's local monitor: $before before the probes, $after after"
        $after | Should -BeGreaterOrEqual ($before + 2) -Because 'the pair checkpointed (every 2 s) all through the probes, not only at the wait for one after them'
        $status = Invoke-Operator Status
        $status | ForEach-Object { $_.Protection | Should -Be 'Protected' }
    }

    It 'carries a marker through both remote monitors and back; a plain TCP monitor carries it too (for the capture)' {
        # The capture's positive control: a QEMU of its own on site A's host, no COLO, its QMP
        # monitor on plain TCP. It must be gone before the failovers (they find one QEMU per host).
        $pidFile = "$tmp/plain.pid"
        $qemu = (Get-Command qemu-system-x86_64 -CommandType Application | Select-Object -First 1).Source
        $out = & ip netns exec $rq.A $qemu -machine none -nodefaults -display none -S -qmp "tcp:10.79.0.1:$($plainPort),server=on,wait=off" -daemonize -pidfile $pidFile 2>&1
        $LASTEXITCODE | Should -Be 0 -Because "the plain monitor's QEMU starts: $out"
        try {
            # qom-get of a path that does not exist: the request names the marker, and so does QEMU's answer.
            $said = Invoke-InNamespace -Namespace $rq.C -ConfigPath $cfgPath -Directory $tmp -Parameters @{ Arg1 = "$tmp/certs/operator"; Arg2 = $marker } -Script '
function Ask($session) { try { $null = Invoke-QmpCommand -Session $session -Command qom-get -Arguments @{ path = "/$Arg2"; property = "type" } -ErrorAction Stop; "answered" } catch { "$_" } }
$r = [ordered]@{}
foreach ($n in Connect-ColoNode -Config $Config -Remote -CertificateDirectory $Arg1) { $r["$($n.Site)"] = Ask $n.Session }
$plain = Connect-QmpSession -HostName 10.79.0.1 -Port 25012 -TimeoutSec 10
$r.Plain = Ask $plain
Disconnect-QmpSession $plain -Confirm:$false
$r'
        }
        finally {
            if (Test-Path $pidFile) { & kill -KILL ([int](Get-Content $pidFile)) 2>$null }
            $until = [DateTime]::UtcNow.AddSeconds(10)
            while (@(Get-NamespaceQemu $rq.A).Count -gt 1 -and [DateTime]::UtcNow -lt $until) { Start-Sleep -Milliseconds 100 }
        }
        $said | Format-List | Out-String | Write-Host
        foreach ($k in 'A', 'B', 'Plain') { $said.$k | Should -Match ([regex]::Escape("/$marker")) -Because "the $k monitor answered the request that named the marker" }
        @(Get-NamespaceQemu $rq.A) | Should -HaveCount 1 -Because 'only site A''s QEMU runs there again'
    }

    It 'refuses a failover while the peer answers its remote monitor' {
        $r = Invoke-Operator Failover B
        $r.ErrorId | Should -BeExactly 'ColoPeerStillAlive,ColoPS.Commands.InvokeColoFailoverCommand'
        $r.Error | Should -Match 'remote monitor answers'
        $r.Node.Protection | Should -Be 'Protected'
    }

    It 'fails over (<Kind> Failover at <Survivor>) and resumes at <Survivor> over remote QMP only' -ForEach @(
        @{ Dies = 'A'; Survivor = 'B'; Kind = 'Secondary' }
        @{ Dies = 'A'; Survivor = 'B'; Kind = 'Primary' }
        @{ Dies = 'B'; Survivor = 'A'; Kind = 'Secondary' }
        @{ Dies = 'B'; Survivor = 'A'; Kind = 'Primary' }
    ) {
        Stop-Site $Dies
        $f = Invoke-Operator Failover $Survivor
        $f.Error | Should -BeNullOrEmpty
        $f.RoleBefore | Should -Be $Kind -Because "this is the $Kind Failover at site $Survivor"
        $f.Node.Role | Should -Be 'Standalone'
        $f.Node.Protection | Should -Be 'Unprotected'
        Invoke-Host $Dies HostSecondary | Out-Null
        $r = Invoke-Operator Resume $Survivor
        $r.WithoutSecondary | Should -BeExactly 'ColoRemoteSecondaryRequired,ColoPS.Commands.ResumeColoReplicationCommand'
        Assert-Pair $r $Survivor
    }

    It 'stops both sites over their remote monitors' {
        $r = Invoke-Operator Stop
        $r.Stopped | Should -BeExactly @('Stopped', 'Stopped')
        $until = [DateTime]::UtcNow.AddSeconds(20)
        while ((@(Get-NamespaceQemu $rq.A) + @(Get-NamespaceQemu $rq.B)).Count -gt 0 -and [DateTime]::UtcNow -lt $until) { Start-Sleep -Milliseconds 200 }
        @(Get-NamespaceQemu $rq.A) + @(Get-NamespaceQemu $rq.B) | Should -BeNullOrEmpty
    }

    It 'captured a TLS handshake on both remote monitors, nothing but TLS records after it, and the marker never in clear' {
        Stop-PortCapture $capture
        $streams = @(Get-CaptureStream -File $pcap)
        $summary = Get-CaptureSummary -Stream $streams -Port ($monitorPorts + $plainPort)
        $summary | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
        foreach ($row in $summary | Where-Object Port -in $monitorPorts) {
            $row.MissingBytes | Should -BeLessThan ($row.PayloadBytes / 10) -Because "the capture of port $($row.Port) is nearly whole"
            # After a hole the walk skips to where records follow one another again: what it skipped was read as nothing, so it must stay small too.
            ($row.MissingBytes + $row.UnreadBytes) | Should -BeLessThan ($row.PayloadBytes / 10) -Because "the walk read nearly all of port $($row.Port)"
            $row.ClientHellos | Should -BeGreaterThan 0 -Because "port $($row.Port) starts TLS"
            $row.Records | Should -BeGreaterThan 0
            $row.ClearBytes | Should -Be 0 -Because "port $($row.Port) carries TLS records only"
            Test-StreamContains -Stream $streams -Port $row.Port -Marker $marker | Should -BeFalse -Because "the marker crossed port $($row.Port) encrypted"
        }
        # The positive control: the same walk and the same search find the marker in clear.
        $plain = $summary | Where-Object Port -eq $plainPort
        $plain.ClearBytes | Should -BeGreaterThan 0 -Because 'the plain monitor speaks QMP in clear'
        Test-StreamContains -Stream $streams -Port $plainPort -Marker $marker | Should -BeTrue -Because 'the search finds the marker where it crossed in clear'
    }
}

Describe 'Half a remote monitor configuration' -Tag 'Tls', 'Remote', 'Colo' {
    BeforeAll { $tmp = New-TestDirectory }
    AfterAll { Remove-TestDirectory $tmp }

    It 'is refused before any QEMU starts: <Case>' -ForEach @(
        @{ Case = 'one site only'; Id = 'ColoConfigManagementIncomplete'; Edit = { param($c) $c.SiteB.Management = $null } }
        @{ Case = 'no TLS'; Id = 'ColoConfigManagementNeedsTls'; Edit = { param($c) $c.Tls = $null } }
        @{ Case = 'no operator allowed'; Id = 'ColoConfigManagementIncomplete'; Edit = { param($c) $c.Tls.OperatorIdentities = @() } }
        @{ Case = 'an operator that is no DN'; Id = 'ColoConfigTlsInvalidIdentity'; Edit = { param($c) $c.Tls.OperatorIdentities = @('operator') } }
        @{ Case = 'every interface'; Id = 'ColoConfigInvalidAddress'; Edit = { param($c) $c.SiteA.Management.Address = '0.0.0.0' } }
        @{ Case = 'a COLO port'; Id = 'ColoConfigDuplicatePort'; Edit = { param($c) $c.SiteA.Management.Port = $c.Ports.Nbd } }
        @{ Case = 'no port'; Id = 'ColoConfigInvalidPort'; Edit = { param($c) $c.SiteB.Management.Port = 0 } }
    ) {
        $dir = "$tmp/$($Case -replace '\W','')"
        $c = New-RemoteTestConfig -Directory $dir | New-ColoCertificate -Path "$dir/certs" -ErrorAction Stop
        & $Edit $c
        $ErrorActionPreference = 'Continue'
        $err = @(Start-ColoSecondary -Config $c -Site B 2>&1 | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly "$Id,ColoPS.Commands.StartColoSecondaryCommand"
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
    }

    It 'takes a monitor address before the certificates exist, so New-ColoCertificate can sign it' {
        $c = New-RemoteTestConfig -Directory "$tmp/order" -ManagementA @{ Address = '10.79.0.11'; Port = 25020 }
        $c.Tls | Should -BeNullOrEmpty
        $c = $c | New-ColoCertificate -Path "$tmp/order/certs" -ErrorAction Stop
        (& openssl x509 -in "$tmp/order/certs/A/server-cert.pem" -noout -ext subjectAltName) -join ' ' | Should -Match 'IP Address:10\.79\.0\.1\b.*IP Address:10\.79\.0\.11\b'
    }

    It 'refuses Connect-ColoNode -Remote to a site without a remote monitor' {
        $c = New-RemoteTestConfig -Directory "$tmp/none" -ManagementA $null -ManagementB $null | New-ColoCertificate -Path "$tmp/none/certs" -ErrorAction Stop
        $err = $null
        Connect-ColoNode -Config $c -Site A -Remote -CertificateDirectory "$tmp/none/certs/operator" -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoNodeNoRemoteMonitor,ColoPS.Commands.ConnectColoNodeCommand'
    }

    It 'reports a certificate folder it cannot read as a typed error' {
        $err = $null
        Connect-QmpSession -HostName 127.0.0.1 -Port 25030 -CertificateDirectory "$tmp/nothing-here" -ErrorAction SilentlyContinue -ErrorVariable err | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpTlsFailed,ColoPS.Commands.ConnectQmpSessionCommand'
        $err[0].CategoryInfo.Category | Should -Be 'SecurityError'
    }
}
