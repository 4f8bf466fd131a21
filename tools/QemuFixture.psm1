# QEMU builds from Debian's packages for the tests, the demo and the benchmarks, cached under
# out/fixtures. Nothing here is installed on the host: QEMU 11 lives in a trixie root of its own and
# QEMU 10.0 is unpacked with dpkg -x. The package mirror is the one the machine's apt already uses,
# read at run time, so no registry host is written into the project.

function Get-DebianMirror {
    <# The URIs of the configured bookworm suite in the machine's apt sources. #>
    foreach ($file in Get-ChildItem /etc/apt/sources.list.d/*.sources -ErrorAction Ignore) {
        foreach ($stanza in (Get-Content $file -Raw) -split "(\r?\n){2,}") {
            if ($stanza -match '(?m)^Suites:.*\bbookworm\b(?!-)' -and $stanza -match '(?m)^URIs:\s*(\S+)') { return $Matches[1] }
        }
    }
    if (Test-Path /etc/apt/sources.list) {
        foreach ($line in Get-Content /etc/apt/sources.list) {
            if ($line -match '^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+bookworm\s') { return $Matches[2] }
        }
    }
    throw 'No bookworm apt source is configured: cannot reach Debian''s other suites.'
}

function Invoke-FixtureNative {
    param([string] $File, [string[]] $Arguments, [string] $What)
    $output = & $File @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE): $(($output | Select-Object -Last 5) -join ' ')" }
}

function Install-Qemu11Fixture {
    <#
    .SYNOPSIS
    QEMU 11 (trixie-backports) in a debootstrapped trixie root under out/fixtures/qemu11, with
    wrappers in its bin/ that run it on this Debian 12 host.

    .DESCRIPTION
    trixie's binaries need trixie's libraries. The wrappers bind the root's /usr (and its
    ld.so.cache) over the host's in a private mount namespace and exec QEMU there, so the
    process is QEMU itself (its pid file, comm and -daemonize behave as the host's QEMU) and every
    other host path (work folders, /tmp, /dev, network namespaces) stays as it is. Needs root
    (debootstrap, chroot, unshare --mount). About 30 s and 550 MB the first time.
    #>
    param([Parameter(Mandatory)] [string] $Directory)
    $root = Join-Path $Directory 'root'
    $bin = Join-Path $Directory 'bin'
    $done = Join-Path $Directory 'complete'
    if (-not (Test-Path $done)) {
        if (Test-Path $Directory) { Remove-Item $Directory -Recurse -Force }
        $null = New-Item -ItemType Directory -Path $Directory
        if (-not (Get-Command debootstrap -ErrorAction Ignore)) {
            $env:DEBIAN_FRONTEND = 'noninteractive'
            Invoke-FixtureNative apt-get @('update', '-qq') 'apt-get update'
            Invoke-FixtureNative apt-get @('install', '-y', '-qq', 'debootstrap') 'apt-get install debootstrap'
        }
        $mirror = Get-DebianMirror
        Write-Host "Building the QEMU 11 fixture (debootstrap trixie, qemu-system-x86 from trixie-backports) in $Directory."
        Invoke-FixtureNative debootstrap @('--variant=minbase', 'trixie', $root, $mirror) 'debootstrap trixie'
        "deb $mirror trixie-backports main" | Set-Content (Join-Path $root 'etc/apt/sources.list.d/backports.list')
        Invoke-FixtureNative chroot @($root, 'apt-get', 'update', '-qq') 'apt-get update in the trixie root'
        Invoke-FixtureNative chroot @($root, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends',
            '-t', 'trixie-backports', 'qemu-system-x86', 'qemu-utils') 'apt-get install qemu-system-x86 in the trixie root'
        $null = New-Item -ItemType Directory -Path $bin
        foreach ($tool in 'qemu-system-x86_64', 'qemu-img') {
            $wrapper = Join-Path $bin $tool
            @"
#!/bin/sh
# $tool from the trixie root beside this folder, run with that root's /usr in a private mount namespace.
root='$((Resolve-Path $root).Path)'
exec unshare --mount --propagation private /bin/sh -c 'mount --bind "`$0/usr" /usr && mount --bind "`$0/etc/ld.so.cache" /etc/ld.so.cache && exec /usr/bin/$tool "`$@"' "`$root" "`$@"
"@ | Set-Content $wrapper
            chmod 755 $wrapper
        }
        Get-Date -Format o | Set-Content $done
    }
    $binary = Join-Path $bin 'qemu-system-x86_64'
    $version = (& $binary --version | Select-Object -First 1) -replace '^QEMU emulator version (\S+).*$', '$1'
    if ($LASTEXITCODE -ne 0 -or $version -notmatch '^11\.') { throw "The QEMU 11 fixture in $Directory does not run (it said '$version'); remove the folder to rebuild it." }
    [pscustomobject]@{
        Binary    = (Resolve-Path $binary).Path
        ImgBinary = (Resolve-Path (Join-Path $bin 'qemu-img')).Path
        BinDirectory = (Resolve-Path $bin).Path
        Version   = $version
    }
}

function Install-Qemu10Fixture {
    <#
    .SYNOPSIS
    QEMU 10.0.x from bookworm-backports, unpacked with dpkg -x under out/fixtures/qemu10: the real
    binary of a version that cannot be a COLO primary, for the refusal test.
    #>
    param([Parameter(Mandatory)] [string] $Directory)
    $root = Join-Path $Directory 'root'
    $binary = Join-Path $root 'usr/bin/qemu-system-x86_64'
    if (-not (Test-Path $binary)) {
        $null = New-Item -ItemType Directory -Force -Path (Join-Path $Directory 'lists/partial'), (Join-Path $Directory 'debs')
        $sources = Join-Path $Directory 'backports.list'
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(Get-DebianMirror) bookworm-backports main" | Set-Content $sources
        $apt = @('-o', "Dir::Etc::sourcelist=$sources", '-o', 'Dir::Etc::sourceparts=-', '-o', "Dir::State::Lists=$Directory/lists", '-o', 'APT::Sandbox::User=root', '-qq')
        Invoke-FixtureNative apt-get ($apt + 'update') 'apt-get update of bookworm-backports'
        Push-Location (Join-Path $Directory 'debs')
        try {
            Invoke-FixtureNative apt-get ($apt + @('download', 'qemu-system-x86/bookworm-backports', 'qemu-system-common/bookworm-backports', 'qemu-system-data/bookworm-backports')) 'apt-get download of QEMU from bookworm-backports'
        }
        finally { Pop-Location }
        foreach ($deb in Get-ChildItem (Join-Path $Directory 'debs') -Filter *.deb) {
            Invoke-FixtureNative dpkg-deb @('-x', $deb.FullName, $root) "dpkg-deb -x $($deb.Name)"
        }
        Remove-Item $sources -ErrorAction Ignore
    }
    [pscustomobject]@{
        Binary          = (Resolve-Path $binary).Path
        DataDirectory   = @((Resolve-Path (Join-Path $root 'usr/share/qemu')).Path, '/usr/share/seabios', '/usr/lib/ipxe/qemu')
        ModuleDirectory = (Resolve-Path (Join-Path $root 'usr/lib/x86_64-linux-gnu/qemu')).Path
        Version         = ((& $binary --version | Select-Object -First 1) -replace '^QEMU emulator version (\S+).*$', '$1')
    }
}

Export-ModuleMember -Function Get-DebianMirror, Install-Qemu11Fixture, Install-Qemu10Fixture
