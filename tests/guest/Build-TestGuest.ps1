<#
.SYNOPSIS
    Builds (or reuses) the proof's test guest: an uncompressed Debian kernel and a busybox initramfs.
.DESCRIPTION
    Only Debian packages, never installed on the host: `apt-get download` of the kernel package that
    linux-image-amd64 depends on (the current generic flavour) and of busybox-static, `dpkg-deb -x`
    into a scratch folder, the vmlinux unpacked from the bzImage's xz payload (QEMU boots an
    uncompressed vmlinux through its PVH entry, much faster than a bzImage under TCG), an initramfs
    with busybox, the disk and NIC modules, tests/guest/init and tests/guest/handler.
    The result is cached in -OutDirectory (default out/guest) and rebuilt only when missing or when
    init/handler changed. Needs root (apt-get download as root needs APT::Sandbox::User=root), xz,
    gzip and a configured Debian apt source.
    Writes an object: Kernel, Initrd, Append (kernel command line), KernelPackage, BusyboxPackage.
#>
[CmdletBinding()]
param(
    [string] $OutDirectory = (Join-Path $PSScriptRoot '../../out/guest'),
    [switch] $Force
)
$ErrorActionPreference = 'Stop'

# The kernel console is on the second UART: ColoPS starts QEMU with `-serial none`, which takes
# ttyS0; the proof adds `-chardev ringbuf,id=con0 -serial chardev:con0` (ttyS1) and reads it over QMP.
$append = 'console=ttyS1 8250.nr_uarts=2 quiet cryptomgr.notests rodata=off tsc=reliable panic=-1'
# Load order matters (insmod does not resolve dependencies); read from the modules' depends= fields.
$modules = 'crct10dif_common', 'crct10dif_generic', 'crc64', 'crc64_rocksoft_generic', 'scsi_common', 'scsi_mod',
    'libata', 'ata_piix', 'crc-t10dif', 'crc64-rocksoft', 't10-pi', 'sd_mod', 'mii', '8139too', '8139cp'

$null = New-Item -ItemType Directory -Force -Path $OutDirectory
$OutDirectory = (Resolve-Path $OutDirectory).Path
$kernel = Join-Path $OutDirectory 'vmlinux'
$initrd = Join-Path $OutDirectory 'initrd.gz'
$stamp = Join-Path $OutDirectory 'guest.json'
$sources = Get-FileHash -Algorithm SHA256 (Join-Path $PSScriptRoot 'init'), (Join-Path $PSScriptRoot 'handler')
$sourceHash = ($sources.Hash -join '')

if (-not $Force -and (Test-Path $kernel) -and (Test-Path $initrd) -and (Test-Path $stamp)) {
    $info = Get-Content $stamp -Raw | ConvertFrom-Json
    if ($info.SourceHash -eq $sourceHash) {
        return [pscustomobject]@{ Kernel = $kernel; Initrd = $initrd; Append = $append; KernelPackage = $info.KernelPackage; BusyboxPackage = $info.BusyboxPackage }
    }
}

function Invoke-Native {
    param([string] $What, [scriptblock] $Run)
    $out = & $Run 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$What failed ($LASTEXITCODE): $($out | Out-String)" }
    $out
}

foreach ($tool in 'apt-get', 'apt-cache', 'dpkg-deb', 'xz', 'gzip') {
    if (-not (Get-Command $tool -ErrorAction Ignore)) { throw "Building the test guest needs $tool." }
}

$debs = Join-Path $OutDirectory 'debs'
$null = New-Item -ItemType Directory -Force -Path $debs
$depends = Invoke-Native 'apt-cache depends linux-image-amd64' { apt-cache depends linux-image-amd64 }
$kernelPackage = $depends | ForEach-Object { if ("$_" -match 'Depends:\s+(linux-image-\d\S*)') { $Matches[1] } } | Select-Object -First 1
if (-not $kernelPackage) { throw "apt-cache did not name the kernel package of linux-image-amd64: $($depends | Out-String)" }
$release = $kernelPackage -replace '^linux-image-', ''

$wanted = @{ $kernelPackage = "${kernelPackage}_*.deb"; 'busybox-static' = 'busybox-static_*.deb' }
$missing = @($wanted.Keys | Where-Object { -not (Get-ChildItem $debs -Filter $wanted[$_] -ErrorAction Ignore) })
if ($missing) {
    Push-Location $debs
    try {
        $out = & apt-get -o APT::Sandbox::User=root -qq download @missing 2>&1
        if ($LASTEXITCODE -ne 0) {
            # Stale package lists name files the mirror no longer has: refresh them once.
            & apt-get -qq update 2>&1 | Out-Null
            $out = & apt-get -o APT::Sandbox::User=root -qq download @missing 2>&1
            if ($LASTEXITCODE -ne 0) { throw "apt-get download $($missing -join ' ') failed ($LASTEXITCODE): $($out | Out-String)" }
        }
    }
    finally { Pop-Location }
}

$x = Join-Path $OutDirectory 'x'
$root = Join-Path $OutDirectory 'rootfs'
Remove-Item $x, $root -Recurse -Force -ErrorAction Ignore
foreach ($pattern in $wanted.Values) {
    $deb = Get-ChildItem $debs -Filter $pattern | Sort-Object LastWriteTime | Select-Object -Last 1
    Invoke-Native "dpkg-deb -x $($deb.Name)" { dpkg-deb -x $deb.FullName $x } | Out-Null
}
$busybox = Join-Path $x 'bin/busybox'
$vmlinuz = Join-Path $x "boot/vmlinuz-$release"
if (-not (Test-Path $busybox) -or -not (Test-Path $vmlinuz)) { throw "The packages did not hold $busybox and $vmlinuz." }

# vmlinux: the bzImage carries the kernel as one xz stream; find its magic (FD 37 7A 58 5A 00).
$bytes = [System.IO.File]::ReadAllBytes($vmlinuz)
$magic = [byte[]](0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00)
$offset = [Array]::IndexOf($bytes, [byte]0xFD)
while ($offset -ge 0 -and $offset -le $bytes.Length - $magic.Length) {
    $hit = $true
    for ($j = 1; $j -lt $magic.Length; $j++) { if ($bytes[$offset + $j] -ne $magic[$j]) { $hit = $false; break } }
    if ($hit) { break }
    $offset = [Array]::IndexOf($bytes, [byte]0xFD, $offset + 1)
}
if ($offset -gt $bytes.Length - $magic.Length) { $offset = -1 }
if ($offset -lt 0) { throw "No xz payload in $vmlinuz." }
$payload = Join-Path $OutDirectory 'payload.xz'
$fs = [System.IO.File]::Create($payload); $fs.Write($bytes, $offset, $bytes.Length - $offset); $fs.Dispose()
$tmpKernel = "$kernel.tmp"
& sh -c 'xz -dc --single-stream "$1" > "$2"' sh $payload $tmpKernel
if ($LASTEXITCODE -ne 0) { throw "xz could not unpack the kernel payload of $vmlinuz." }
Remove-Item $payload
$head = [byte[]]::new(4)
$fs = [System.IO.File]::OpenRead($tmpKernel); $null = $fs.Read($head, 0, 4); $fs.Dispose()
if (-not ($head[0] -eq 0x7F -and $head[1] -eq 0x45 -and $head[2] -eq 0x4C -and $head[3] -eq 0x46)) { throw "The unpacked kernel is not an ELF file." }

# initramfs
foreach ($d in 'bin', 'sbin', 'proc', 'sys', 'dev', 'mods', 'tmp', 'etc') { $null = New-Item -ItemType Directory -Force -Path (Join-Path $root $d) }
Copy-Item $busybox (Join-Path $root 'bin/busybox')
foreach ($applet in 'sh', 'mount', 'insmod', 'ip', 'nc', 'dd', 'printf', 'cat', 'echo', 'sleep', 'tr', 'awk', 'head', 'ls', 'mkdir', 'grep', 'ping', 'sed', 'cut', 'yes') {
    $null = New-Item -ItemType SymbolicLink -Path (Join-Path $root "bin/$applet") -Target busybox
}
$moduleRoot = Join-Path $x "lib/modules/$release/kernel"
$all = Get-ChildItem $moduleRoot -Recurse -Filter *.ko
foreach ($m in $modules) {
    $file = $all | Where-Object Name -eq "$m.ko" | Select-Object -First 1
    if (-not $file) { throw "Kernel module $m.ko is not in $kernelPackage." }
    Copy-Item $file.FullName (Join-Path $root 'mods')
}
[System.IO.File]::WriteAllText((Join-Path $root 'mods/order'), ($modules -join "`n") + "`n")
Copy-Item (Join-Path $PSScriptRoot 'init') (Join-Path $root 'init')
Copy-Item (Join-Path $PSScriptRoot 'handler') (Join-Path $root 'bin/handler')
chmod 755 (Join-Path $root 'init') (Join-Path $root 'bin/handler')
& sh -c 'cd "$1" && find . | "$2" cpio -o -H newc 2>/dev/null | gzip -1 > "$3"' sh $root $busybox "$initrd.tmp"
if ($LASTEXITCODE -ne 0) { throw 'Packing the initramfs failed.' }
Move-Item -Force "$initrd.tmp" $initrd
Move-Item -Force $tmpKernel $kernel
Remove-Item $x, $root -Recurse -Force -ErrorAction Ignore

$busyboxPackage = (Get-ChildItem $debs -Filter 'busybox-static_*.deb' | Select-Object -Last 1).BaseName
$kernelDeb = (Get-ChildItem $debs -Filter "${kernelPackage}_*.deb" | Select-Object -Last 1).BaseName
[ordered]@{ KernelPackage = $kernelDeb; BusyboxPackage = $busyboxPackage; SourceHash = $sourceHash } | ConvertTo-Json | Set-Content $stamp
[pscustomobject]@{ Kernel = $kernel; Initrd = $initrd; Append = $append; KernelPackage = $kernelDeb; BusyboxPackage = $busyboxPackage }
