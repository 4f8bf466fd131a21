# The TLS capture's real guest: the proof's guest (tests/guest) protected by a pair whose sites run
# as two hosts, as the proof's split-site run has them (New-ProofNetwork -SplitSites): each site's
# QEMU in a namespace of its own (<ns>-a at 10.78.0.1, <ns>-b at 10.78.0.2) joined by one veth link,
# the only way between them (captured there), each with its tap bridged to the client's namespace
# <ns>, where the guest is reached.

Import-Module (Join-Path $PSScriptRoot 'SiteHosts.psm1') -Force

$script:GuestIp = '10.77.0.2'
$script:GuestPort = 50080
$script:SiteAddress = @{ A = '10.78.0.1'; B = '10.78.0.2' }

function New-TlsGuestNetwork {
    <# The proof's split-site network, with site A's tap (its veth in the client namespace) on the client's bridge. #>
    param([Parameter(Mandatory)] [string] $Namespace)
    New-ProofNetwork -Namespace $Namespace -SplitSites
    & ip -n $Namespace link set cpta master cpbr0 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "cpta could not join the bridge in $Namespace." }
}

function New-TlsGuestConfig {
    <#
    A pair running the proof guest, each site's QEMU started through a wrapper that execs it in its
    site's namespace (the pid file still names QEMU); QMP stays on unix sockets.
    #>
    param([Parameter(Mandatory)] [string] $Directory, [Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [int] $PortBase, [Parameter(Mandatory)] $Guest, [switch] $Tls)
    $null = New-Item -ItemType Directory -Force -Path $Directory
    $wrapper = New-SiteQemuWrapper -Path (Join-Path $Directory 'qemu-in-site.sh') -Name mark -NamespaceA "$Namespace-a" -NamespaceB "$Namespace-b"
    $ports = @{ CompareIn = $PortBase + 1; Mirror = $PortBase + 3; Compare = $PortBase + 4; CompareOut = $PortBase + 5; Migration = $PortBase + 8; Nbd = $PortBase + 9 }
    $cfg = New-ColoConfig -Name mark -MemoryMB 256 -DiskSizeGB 0.0625 -Ports $ports -CheckpointIntervalMs 1000 -CompareTimeoutMs 20000 `
        -NetworkBackend tap -NicModel rtl8139 -MacAddress '52:54:00:77:00:02' -QemuBinary $wrapper `
        -SiteA @{ Address = $script:SiteAddress.A; WorkDirectory = "$Directory/a"; TapInterface = 'cpta' } `
        -SiteB @{ Address = $script:SiteAddress.B; WorkDirectory = "$Directory/b"; TapInterface = 'cptb' } `
        -ExtraArgument @('-kernel', $Guest.Kernel, '-initrd', $Guest.Initrd, '-append', $Guest.Append, '-chardev', 'ringbuf,id=con0,size=65536', '-serial', 'chardev:con0') -ErrorAction Stop
    if ($Tls) { $cfg = New-ColoCertificate -Config $cfg -Path "$Directory/certs" -ErrorAction Stop }
    $cfg
}

function Wait-TlsGuestReady {
    <# Until the guest's init says its service listens (on its console, read over QMP). #>
    param([Parameter(Mandatory)] $Node, [int] $TimeoutSec = 180)
    $text = ''
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
    while ($text -notmatch 'GUEST-READY carrier=1 sda=yes') {
        if ([DateTime]::UtcNow -gt $deadline) { throw "The guest did not boot in $TimeoutSec s; its console: $text" }
        Start-Sleep -Milliseconds 500
        # QEMU answers once its main loop is free: a checkpoint of the booting guest (much of its RAM,
        # over TLS, on a loaded TCG host) holds it for seconds. A read that gave up would lose the
        # console text its late answer carries, so the read waits rather than retries.
        $text += "$(Invoke-QmpCommand -Session $Node.Session -Command ringbuf-read -Arguments @{ device = 'con0'; size = 65536; format = 'utf8' } -TimeoutSec 30 -ErrorAction Stop)"
    }
}

function Send-GuestRequest {
    <#
    One request line to the guest's service from the namespace's bridge side (tests/guest/handler:
    a number n writes "REC n" to sector n and answers "ACK n ..."); returns the answer line, or
    nothing when none came in TimeoutSec.
    #>
    param([Parameter(Mandatory)] [string] $Namespace, [Parameter(Mandatory)] [string] $Line, [int] $TimeoutSec = 60)
    $script = "exec 3<>/dev/tcp/$script:GuestIp/$script:GuestPort || exit 1; printf '%s\n' '$Line' >&3; read -r answer <&3; printf '%s\n' `"`$answer`"; printf 'Q\n' >&3"
    $answer = & ip netns exec $Namespace timeout $TimeoutSec bash -c $script 2>$null
    "$answer".Trim()
}

function Read-DiskSector {
    <#
    The text of one 512-byte sector of a qcow2 image (read offline with qemu-img), trailing blanks
    cut. qemu-img dd cannot skip into a qcow2 image, so it copies up to the sector.
    #>
    param([Parameter(Mandatory)] [string] $Image, [Parameter(Mandatory)] [long] $Sector, [string] $QemuImg = 'qemu-img')
    $raw = "$Image.$Sector.raw"
    try {
        $out = & $QemuImg dd -f qcow2 -O raw bs=64k "count=$([math]::Floor($Sector * 512 / 64KB) + 1)" "if=$Image" "of=$raw" 2>&1
        if ($LASTEXITCODE -ne 0) { throw "qemu-img dd of $Image failed: $out" }
        $fs = [System.IO.File]::OpenRead($raw)
        try {
            $buf = [byte[]]::new(512)
            $null = $fs.Seek($Sector * 512, 'Begin')
            $n = $fs.Read($buf, 0, 512)
        }
        finally { $fs.Dispose() }
        [System.Text.Encoding]::ASCII.GetString($buf, 0, $n).TrimEnd(" `n`0".ToCharArray())
    }
    finally { Remove-Item $raw -ErrorAction Ignore }
}

Export-ModuleMember -Function New-TlsGuestNetwork, New-TlsGuestConfig, Wait-TlsGuestReady, Send-GuestRequest, Read-DiskSector
