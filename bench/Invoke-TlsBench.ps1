#Requires -Version 7.4
<#
.SYNOPSIS
    What TLS on every COLO link costs: protect, checkpoint pause and resume with ColoConfig.Tls
    against the same pair without it, in the same run, as ratios (bench/TLS.md).

.DESCRIPTION
    Each run starts two pairs one after the other (the order alternates run by run), identical but
    for the TLS section: QEMU 11 under TCG on loopback, 256 MiB of RAM, a 256 MiB disk.
    So that the links carry data, the guest has some:
      - RAM: a file of random bytes (-RamMiB) put into guest memory by QEMU's loader device, so
        the migrations of protect and resume copy it;
      - disk: random bytes (-DiskMiB) written into the disk image, so resume's mirror copies them
        over NBD;
      - checkpoints: the disk's boot sector is a 29-byte loop that rewrites 512 KiB of low memory
        without pause, so every checkpoint copies those pages.
    Measured per pair:
      Protect     Start-ColoPrimary with the secondary waiting, until both sides are in COLO;
      Checkpoint  the primary's pause per checkpoint (STOP to RESUME, QEMU's event timestamps), the
                  median over the checkpoints of -ProtectedSec seconds at a 500 ms interval;
      Resume      after SIGKILL of the primary and Invoke-ColoFailover on the secondary: a new
                  secondary at the killed site and Resume-ColoReplication until both are in COLO.
    The ratio TLS / clear is taken run by run; the report gives its median and spread, the
    medians of both variants, the machine's load before and after, and the QEMU version.
    Every QEMU and folder (/tmp/colops-bench-tls-*) goes away in finally blocks. Ports 53500-53539.

.PARAMETER ModulePath
    The staged module manifest (out/ColoPS/ColoPS.psd1).

.PARAMETER Runs
    Runs (default 3; 1 with -Quick).

.PARAMETER Quick
    One run, 16 MiB of RAM data and 32 MiB of disk data; the report goes to out/bench/TLS.md.

.PARAMETER OutputPath
    Where the Markdown report goes (default bench/TLS.md; out/bench/TLS.md with -Quick).

.EXAMPLE
    dotnet pwsh bench/Invoke-TlsBench.ps1 -ModulePath out/ColoPS/ColoPS.psd1 -Quick
#>
[CmdletBinding()]
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/ColoPS/ColoPS.psd1'),
    [ValidateRange(1, 20)] [int] $Runs = 3,
    [switch] $Quick,
    [ValidateRange(1, 128)] [int] $RamMiB = 64,
    [ValidateRange(1, 200)] [int] $DiskMiB = 128,
    [ValidateRange(3, 120)] [int] $ProtectedSec = 10,
    [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$ProgressPreference = 'SilentlyContinue'
if ($Quick) {
    if (-not $PSBoundParameters.ContainsKey('Runs')) { $Runs = 1 }
    if (-not $PSBoundParameters.ContainsKey('RamMiB')) { $RamMiB = 16 }
    if (-not $PSBoundParameters.ContainsKey('DiskMiB')) { $DiskMiB = 32 }
}
if (-not $OutputPath) { $OutputPath = if ($Quick) { Join-Path $PSScriptRoot '../out/bench/TLS.md' } else { Join-Path $PSScriptRoot 'TLS.md' } }
Import-Module (Resolve-Path $ModulePath).ProviderPath -Force
foreach ($tool in 'qemu-system-x86_64', 'qemu-img', 'openssl') { if (-not (Get-Command $tool -ErrorAction Ignore)) { throw "The TLS benchmark needs $tool." } }

function Write-Step([string] $Text) { Write-Host ("[{0:HH:mm:ss}] {1}" -f (Get-Date), $Text) }

function New-GuestData([string] $Directory) {
    # The boot sector (real mode, loaded at 0x7c00): bx counts; es runs over 0x1000..0x8000, and
    # rep stosw writes bx into each 64 KiB segment; then again with bx+1, for ever.
    $boot = [byte[]]::new(512)
    ([byte[]] @(0x31, 0xDB, 0x43, 0xB8, 0x00, 0x10, 0x8E, 0xC0, 0x31, 0xFF, 0xB9, 0x00, 0x80, 0x50, 0x89, 0xD8,
        0xF3, 0xAB, 0x58, 0x05, 0x00, 0x10, 0x3D, 0x00, 0x90, 0x72, 0xEB, 0xEB, 0xE5)).CopyTo($boot, 0)
    $boot[510] = 0x55; $boot[511] = 0xAA
    $raw = Join-Path $Directory 'disk.raw'
    $fs = [System.IO.File]::Create($raw)
    try {
        $fs.SetLength(256MB)
        $fs.Write($boot, 0, 512)
        $fs.Position = 1MB
        $chunk = [byte[]]::new(1MB)
        for ($i = 0; $i -lt $DiskMiB; $i++) { [System.Security.Cryptography.RandomNumberGenerator]::Fill($chunk); $fs.Write($chunk, 0, $chunk.Length) }
    }
    finally { $fs.Dispose() }
    $image = Join-Path $Directory 'disk.qcow2'
    $out = & qemu-img convert -f raw -O qcow2 $raw $image 2>&1
    if ($LASTEXITCODE -ne 0) { throw "qemu-img convert failed: $out" }
    Remove-Item $raw
    $ram = Join-Path $Directory 'ram.bin'
    $bytes = [byte[]]::new($RamMiB * 1MB)
    [System.Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
    [System.IO.File]::WriteAllBytes($ram, $bytes)
    [pscustomobject]@{ Image = $image; Ram = $ram }
}

function New-PairConfig([string] $Directory, [int] $Base, $Data, [bool] $Tls) {
    $ports = @{ CompareIn = $Base + 1; Mirror = $Base + 3; Compare = $Base + 4; CompareOut = $Base + 5; Migration = $Base + 8; Nbd = $Base + 9 }
    # The RAM data at 32 MiB, above what SeaBIOS and the boot loop touch.
    $cfg = New-ColoConfig -Name tlsb -MemoryMB 256 -DiskImage $Data.Image -Ports $ports -CheckpointIntervalMs 500 `
        -SiteA @{ Address = '127.0.0.1'; WorkDirectory = "$Directory/a" } -SiteB @{ Address = '127.0.0.2'; WorkDirectory = "$Directory/b" } `
        -ExtraArgument @('-device', "loader,file=$($Data.Ram),addr=0x2000000,force-raw=on") -ErrorAction Stop
    if ($Tls) { $cfg = New-ColoCertificate -Config $cfg -Path "$Directory/certs" -ErrorAction Stop }
    $cfg
}

function Get-CheckpointPause($Node, [long] $From) {
    # STOP then RESUME on the primary is one checkpoint; the pause is the time between their timestamps.
    $pauses = [System.Collections.Generic.List[double]]::new()
    $open = $null
    foreach ($e in @(Get-QmpEvent -Session $Node.Session -AfterSequence $From | Where-Object Name -in 'STOP', 'RESUME')) {
        if ($e.Name -eq 'STOP') { $open = $e }
        elseif ($open) { $pauses.Add(($e.Timestamp - $open.Timestamp).TotalMilliseconds); $open = $null }
    }
    , $pauses.ToArray()
}

function Get-Median([double[]] $Values) {
    $s = @($Values | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    if ($s.Count % 2) { return $s[[int][math]::Floor($s.Count / 2)] }
    ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2
}

function Invoke-Pair([string] $Directory, [int] $Base, $Data, [bool] $Tls) {
    $cfg = New-PairConfig -Directory $Directory -Base $Base -Data $Data -Tls $Tls
    $nodes = @()
    try {
        $b = Start-ColoSecondary -Config $cfg -Site B
        $nodes += $b
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $a = Start-ColoPrimary -Config $cfg -Site A -Secondary $b -WarningAction SilentlyContinue
        $protect = $clock.Elapsed.TotalSeconds
        $nodes += $a
        # Checkpoints are measured once the boot loop runs (SeaBIOS takes a while under TCG to get
        # there), or they would copy next to nothing: the word it writes at 0x10000 keeps changing.
        $word = { "$(Invoke-QmpCommand $a.Session human-monitor-command @{ 'command-line' = 'xp /1hx 0x10000' })".Trim() }
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        $w1 = & $word
        while ($true) {
            Start-Sleep -Milliseconds 300
            $w2 = & $word
            if ($w2 -ne $w1 -and $w2 -notmatch '0x0000$') { break }
            if ([DateTime]::UtcNow -gt $deadline) { throw "The guest's boot loop did not start in 60 s (the word at 0x10000 stays '$w2')." }
            $w1 = $w2
        }
        $from = $a.Session.LastEventSequence
        Start-Sleep -Seconds $ProtectedSec
        $pauses = Get-CheckpointPause $a $from
        if ($pauses.Count -lt 3) { throw "Only $($pauses.Count) checkpoints in $ProtectedSec s at a 500 ms interval." }
        if ((Get-ColoStatus -Node $a).Protection -ne 'Protected') { throw 'The pair is not protected after its checkpoints.' }
        Stop-Process -Id $a.ProcessId -Force
        Wait-Process -Id $a.ProcessId -Timeout 10 -ErrorAction Ignore
        $null = Invoke-ColoFailover -Node $b -Confirm:$false -TimeoutSec 30
        $a2 = Start-ColoSecondary -Config $cfg -Site A
        $nodes += $a2
        $clock.Restart()
        $r = Resume-ColoReplication -Node $b -Secondary $a2 -Confirm:$false
        $resume = $clock.Elapsed.TotalSeconds
        if ($r.Protection -ne 'Protected') { throw "Protection is '$($r.Protection)' after Resume-ColoReplication." }
        [pscustomobject]@{
            Protect = $protect; Resume = $resume; Checkpoint = (Get-Median $pauses); Checkpoints = $pauses.Count
            Encrypted = [bool]((Get-ColoStatus -Node $b).Links | Where-Object Name -eq 'Migration').Encrypted
        }
    }
    finally {
        $nodes | Where-Object { $_ } | Stop-ColoNode -ErrorAction SilentlyContinue
        Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$Directory*" } | Stop-Process -Force -ErrorAction Ignore
        Get-QmpSession | Where-Object { "$($_.Endpoint)" -like "*$Directory*" } | Disconnect-QmpSession -Confirm:$false -ErrorAction Ignore
    }
}

$root = Join-Path '/tmp' ('colops-bench-tls-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$null = New-Item -ItemType Directory -Path $root
chmod 700 $root
$loadBefore = (Get-Content /proc/loadavg -Raw).Trim()
$samples = [System.Collections.Generic.List[object]]::new()
try {
    Write-Step "guest data: $RamMiB MiB in RAM, $DiskMiB MiB on disk"
    $data = New-GuestData $root
    for ($run = 1; $run -le $Runs; $run++) {
        # Alternating order, so that a machine getting busier or quieter does not favour one variant.
        $order = if ($run % 2) { @($false, $true) } else { @($true, $false) }
        $pair = @{}
        foreach ($tls in $order) {
            $name = if ($tls) { 'tls' } else { 'clear' }
            Write-Step "run $run/$Runs, $name"
            $dir = Join-Path $root "$run-$name"
            $pair[$name] = Invoke-Pair -Directory $dir -Base $(if ($tls) { 53520 } else { 53500 }) -Data $data -Tls $tls
            if ($pair[$name].Encrypted -ne $tls) { throw "The $name pair reports its migration link Encrypted=$($pair[$name].Encrypted)." }
            Remove-Item $dir -Recurse -Force -ErrorAction Ignore
            Write-Step ("  protect {0:0.00} s, checkpoint {1:0.0} ms (median of {2}), resume {3:0.00} s" -f $pair[$name].Protect, $pair[$name].Checkpoint, $pair[$name].Checkpoints, $pair[$name].Resume)
        }
        $samples.Add([pscustomobject]@{ Run = $run; Clear = $pair.clear; Tls = $pair.tls })
    }
}
finally {
    Get-Process -Name 'qemu-system-*' -ErrorAction Ignore | Where-Object { $_.CommandLine -like "*$root*" } | Stop-Process -Force -ErrorAction Ignore
    Remove-Item $root -Recurse -Force -ErrorAction Ignore
}
$loadAfter = (Get-Content /proc/loadavg -Raw).Trim()

$qemu = ((& qemu-system-x86_64 --version) | Select-Object -First 1) -replace '^QEMU emulator version\s*', ''
$lines = @(
    '# TLS on every COLO link: what it costs'
    ''
    "Written by ``bench/Invoke-TlsBench.ps1`` on $((Get-Date).ToUniversalTime().ToString('yyyy-MM-dd HH:mm')) UTC: $Runs run(s), QEMU $qemu, TCG, $([Environment]::ProcessorCount) cores."
    "Load average (1, 5, 15 min and tasks) before: $loadBefore; after: $loadAfter. The load shows what else ran beside it; the ratios compare pairs measured back to back in the same run."
    ''
    "Each pair: 256 MiB of RAM holding $RamMiB MiB of random bytes (QEMU's loader device), a disk holding $DiskMiB MiB of random bytes, and a boot-sector loop rewriting 512 KiB of RAM, so every checkpoint copies those pages (checked each time: the word the loop writes at 0x10000 changes). Checkpoint interval 500 ms. Protect copies the RAM over the migration link, resume copies the disk over NBD (drive-mirror) and the RAM again; a checkpoint copies the dirty pages and the device state."
    ''
    'How to read it: a ratio near 1 means TLS costs less than the noise of a loaded 2-core TCG machine; the run table shows the spread. Under TCG much of each step is QEMU emulating the guest and fixed waits, not moving bytes; on a host with KVM those parts shrink, so the share of TLS (encrypting what the links carry: the mirror, the RAM copies) would be larger than these ratios show.'
    ''
    '| Measure | Clear (median) | TLS (median) | TLS / clear (median, min-max) |'
    '|---|---|---|---|'
)
foreach ($m in @(@{ Key = 'Protect'; Name = 'Protect: Start-ColoPrimary until both in COLO'; Unit = 's'; Format = '0.00' },
        @{ Key = 'Checkpoint'; Name = 'Checkpoint pause on the primary (STOP to RESUME)'; Unit = 'ms'; Format = '0.0' },
        @{ Key = 'Resume'; Name = 'Resume: Resume-ColoReplication until both in COLO'; Unit = 's'; Format = '0.00' })) {
    $c = @($samples | ForEach-Object { $_.Clear.($m.Key) })
    $t = @($samples | ForEach-Object { $_.Tls.($m.Key) })
    $ratios = @($samples | ForEach-Object { $_.Tls.($m.Key) / $_.Clear.($m.Key) })
    $spread = '{0:0.00}-{1:0.00}' -f ($ratios | Measure-Object -Minimum).Minimum, ($ratios | Measure-Object -Maximum).Maximum
    $lines += "| $($m.Name) | $((Get-Median $c).ToString($m.Format)) $($m.Unit) | $((Get-Median $t).ToString($m.Format)) $($m.Unit) | $((Get-Median $ratios).ToString('0.00')) ($spread) |"
}
$lines += ''
$lines += '| Run | Clear: protect s / checkpoint ms (checkpoints) / resume s | TLS: protect s / checkpoint ms (checkpoints) / resume s |'
$lines += '|---|---|---|'
foreach ($s in $samples) {
    $f = { param($x) '{0:0.00} / {1:0.0} ({2}) / {3:0.00}' -f $x.Protect, $x.Checkpoint, $x.Checkpoints, $x.Resume }
    $lines += "| $($s.Run) | $(& $f $s.Clear) | $(& $f $s.Tls) |"
}
$report = $lines -join "`n"
$null = New-Item -ItemType Directory -Force -Path (Split-Path $OutputPath)
Set-Content -Path $OutputPath -Value $report
Write-Host $report
Write-Host "Report written to $OutputPath"
