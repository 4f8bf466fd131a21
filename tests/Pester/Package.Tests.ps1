# The .nupkg of the staged module, installed the way users install it: Install-PSResource from a
# repository, into a fresh pwsh. Everything PSResourceGet writes (its repository store, the
# CurrentUser module folder, NuGet settings) goes to a temporary folder: the children run with
# HOME, XDG_DATA_HOME, XDG_CONFIG_HOME and XDG_CACHE_HOME pointing there, so the user's real
# ~/.local/share/powershell/Modules and repository registrations are never touched.

BeforeDiscovery {
    $script:HasQemu = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force

    $manifest = if ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    $manifest = (Resolve-Path $manifest).ProviderPath
    $moduleDir = Split-Path $manifest
    $version = [string](Import-PowerShellDataFile $manifest).ModuleVersion
    $outDir = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath | Join-Path -ChildPath 'out'

    Add-Type -AssemblyName System.IO.Compression.FileSystem
    function Test-PackageCurrent {
        # True when the package holds exactly the staged module's files, byte for byte.
        param([string] $Path)
        if (-not (Test-Path $Path)) { return $false }
        $zip = [System.IO.Compression.ZipFile]::OpenRead($Path)
        try {
            foreach ($f in Get-ChildItem $moduleDir -Recurse -File) {
                $name = [System.IO.Path]::GetRelativePath($moduleDir, $f.FullName) -replace '\\', '/'
                $entry = $zip.GetEntry($name)
                if (-not $entry) { return $false }
                $stream = $entry.Open()
                try { $packed = [System.Security.Cryptography.SHA256]::HashData($stream) } finally { $stream.Dispose() }
                $onDisk = [System.Security.Cryptography.SHA256]::HashData([System.IO.File]::ReadAllBytes($f.FullName))
                if ([Convert]::ToHexString($packed) -ne [Convert]::ToHexString($onDisk)) { return $false }
            }
            return $true
        }
        finally { $zip.Dispose() }
    }

    # Build the package when it is missing or does not hold the staged module as it is now.
    $nupkg = Join-Path $outDir "ColoPS.$version.nupkg"
    if (-not (Test-PackageCurrent $nupkg)) {
        $null = & (Join-Path $PSScriptRoot '../../tools/New-ColoPackage.ps1') -ModulePath $moduleDir -OutputPath $outDir
    }

    $haveQemu = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore)
    $tmp = New-TestDirectory
    $repo = Join-Path $tmp 'repo'
    # PSResourceGet installs CurrentUser modules under $HOME/.local/share/powershell/Modules and keeps
    # its repository store under LocalApplicationData (XDG_DATA_HOME): both point into $tmp.
    $home2 = Join-Path $tmp 'home'
    $isolated = @{
        HOME            = $home2
        XDG_DATA_HOME   = Join-Path $home2 '.local/share'
        XDG_CONFIG_HOME = Join-Path $home2 '.config'
        XDG_CACHE_HOME  = Join-Path $home2 '.cache'
    }
    $null = New-Item -ItemType Directory -Force -Path (@($repo) + @($isolated.Values))
    Copy-Item $nupkg $repo
    $userModules = Join-Path $isolated.XDG_DATA_HOME 'powershell/Modules'

    # What this test must leave as it found it.
    $realData = [Environment]::GetFolderPath('LocalApplicationData')
    # PowerShell's CurrentUser module folder and PSResourceGet's (which follows HOME) can differ.
    $realInstall = @((Join-Path $realData 'powershell/Modules/ColoPS'), (Join-Path $HOME '.local/share/powershell/Modules/ColoPS')) | Select-Object -Unique
    $realInstallBefore = @($realInstall | ForEach-Object { Test-Path $_ })
    $realStore = Join-Path $realData 'PSResourceGet/PSResourceRepository.xml'
    $realStoreBefore = if (Test-Path $realStore) { Get-Content $realStore -Raw } else { $null }

    function Invoke-FreshPwsh {
        <# Runs a script in a new `pwsh -NoProfile -NonInteractive` with the isolated XDG folders; returns its exit code, its output and the JSON it wrote. #>
        param([Parameter(Mandatory)] [string] $Script, [hashtable] $Environment = @{}, [hashtable] $Parameters = @{})
        $file = Join-Path $tmp ('child-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
        $result = "$file.json"
        Set-Content -Path $file -Value $Script
        # The running pwsh's own executable; under `dotnet pwsh` without one in $PSHOME the process is
        # dotnet itself, and pwsh.dll has to be named after it.
        $exe = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' })
        $prefix = @()
        if (-not (Test-Path $exe)) {
            $exe = [System.Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
            if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $prefix = @(Join-Path $PSHOME 'pwsh.dll') }
        }
        $argList = @($prefix) + @('-NoProfile', '-NonInteractive', '-File', $file, '-ResultPath', $result)
        foreach ($k in $Parameters.Keys) { $argList += "-$k"; $argList += $Parameters[$k] }
        # The child gets its own environment; this process's HOME and XDG folders stay as they are.
        $psi = [System.Diagnostics.ProcessStartInfo]::new($exe)
        foreach ($a in $argList) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        foreach ($k in $isolated.Keys) { $psi.Environment[$k] = $isolated[$k] }
        foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
        $child = [System.Diagnostics.Process]::Start($psi)
        $stdout = $child.StandardOutput.ReadToEndAsync()
        $stderr = $child.StandardError.ReadToEndAsync()
        if (-not $child.WaitForExit(120000)) { $child.Kill($true); throw "The child pwsh did not finish in 120 s." }
        $child.WaitForExit()
        $output = $stdout.Result + $stderr.Result
        $exit = $child.ExitCode
        [pscustomobject]@{
            ExitCode = $exit
            Output   = $output
            Result   = if (Test-Path $result) { Get-Content $result -Raw | ConvertFrom-Json } else { $null }
        }
    }
}

AfterAll {
    Stop-AllTestQemu
    if ($tmp) { Remove-Item $tmp -Recurse -Force -ErrorAction Ignore }
}

Describe 'The ColoPS package' -Tag 'Package' {
    It 'is a nupkg of the staged module, with its manifest, assemblies, formats and help' {
        Test-PackageCurrent $nupkg | Should -BeTrue -Because 'the package holds the staged files byte for byte'
        $zip = [System.IO.Compression.ZipFile]::OpenRead($nupkg)
        try {
            $entries = $zip.Entries.FullName
            $nuspec = [xml](New-Object System.IO.StreamReader ($zip.GetEntry('ColoPS.nuspec').Open())).ReadToEnd()
        }
        finally { $zip.Dispose() }
        $stagedFiles = Get-ChildItem $moduleDir -Recurse -File | ForEach-Object { [System.IO.Path]::GetRelativePath($moduleDir, $_.FullName) -replace '\\', '/' }
        foreach ($f in $stagedFiles) { $entries | Should -Contain $f }
        $entries | Should -Contain 'ColoPS.psd1'
        $entries | Should -Contain 'ColoPS.dll'
        $entries | Should -Contain 'ColoPS.Core.dll'
        $nuspec.package.metadata.id | Should -BeExactly 'ColoPS'
        $nuspec.package.metadata.version | Should -BeExactly $version
    }

    Context 'installed with Install-PSResource from a local file repository' {
        BeforeAll {
            $install = Invoke-FreshPwsh -Parameters @{ Repository = $repo } -Script @'
param([string] $ResultPath, [string] $Repository)
$ErrorActionPreference = 'Stop'
# Refuse to run unless both places PSResourceGet writes to are the temporary ones
# (.NET returns an empty LocalApplicationData for a missing XDG_DATA_HOME folder).
if (-not $env:XDG_DATA_HOME -or [Environment]::GetFolderPath('LocalApplicationData') -ne $env:XDG_DATA_HOME -or -not $env:XDG_DATA_HOME.StartsWith("$env:HOME/")) {
    throw "Not isolated: HOME='$env:HOME', XDG_DATA_HOME='$env:XDG_DATA_HOME'."
}
Register-PSResourceRepository -Name ColoPSTest -Uri $Repository -Trusted
try {
    $found = Find-PSResource -Name ColoPS -Repository ColoPSTest
    Install-PSResource -Name ColoPS -Repository ColoPSTest -Scope CurrentUser -TrustRepository -Reinstall
    $installed = Get-InstalledPSResource -Name ColoPS -Scope CurrentUser
}
finally {
    Unregister-PSResourceRepository -Name ColoPSTest
}
@{
    Found             = $found.Version.ToString()
    InstalledVersion  = $installed.Version.ToString()
    InstalledLocation = $installed.InstalledLocation
    Repositories      = @(Get-PSResourceRepository | ForEach-Object Name)
    RepositoryStore   = Join-Path ([Environment]::GetFolderPath('LocalApplicationData')) 'PSResourceGet'
} | ConvertTo-Json | Set-Content $ResultPath
'@
        }

        It 'finds and installs the package' {
            $install.ExitCode | Should -Be 0 -Because $install.Output
            $install.Result.Found | Should -BeExactly $version
            $install.Result.InstalledVersion | Should -BeExactly $version
        }

        It 'installs into the isolated CurrentUser folder and leaves the real one alone' {
            $install.Result.InstalledLocation | Should -BeLike "$($isolated.XDG_DATA_HOME)*"
            Test-Path (Join-Path $userModules "ColoPS/$version/ColoPS.psd1") | Should -BeTrue
            @($realInstall | ForEach-Object { Test-Path $_ }) | Should -Be $realInstallBefore
        }

        It 'leaves no repository registration behind, in the isolated store or the real one' {
            $install.Result.RepositoryStore | Should -BeLike "$($isolated.XDG_DATA_HOME)*"
            $install.Result.Repositories | Should -Not -Contain 'ColoPSTest'
            $now = if (Test-Path $realStore) { Get-Content $realStore -Raw } else { $null }
            $now | Should -Be $realStoreBefore
        }

        Context 'imported in a fresh pwsh' {
            BeforeAll {
                $qemu = if ($haveQemu) { Start-TestQemu -Directory $tmp -Name 'pkg' } else { $null }
                $childEnv = @{ PSModulePath = $userModules + [System.IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules') }
                $fresh = Invoke-FreshPwsh -Environment $childEnv -Parameters @{ WorkDirectory = $tmp; Socket = $(if ($qemu) { $qemu.Socket } else { '' }) } -Script @'
param([string] $ResultPath, [string] $WorkDirectory, [string] $Socket)
$ErrorActionPreference = 'Stop'
Import-Module ColoPS
$m = Get-Module ColoPS
$help = Get-ColoStatus -? | Out-String -Width 400
$cfg = New-ColoConfig -Name pkg -MemoryMB 128 -DiskSizeGB 1 -CheckpointIntervalMs 2000 `
    -SiteA @{ Address = '127.0.0.1'; WorkDirectory = "$WorkDirectory/a" } `
    -SiteB @{ Address = '127.0.0.2'; WorkDirectory = "$WorkDirectory/b" } `
    -Ports @{ CompareIn = 46901; Mirror = 46903; Compare = 46904; CompareOut = 46905; Migration = 46908; Nbd = 46909 }
$cfg | Export-ColoConfig -Path "$WorkDirectory/pkg.colo.json"
$back = Import-ColoConfig -Path "$WorkDirectory/pkg.colo.json"
$qmp = $null
if ($Socket) {
    $s = Connect-QmpSession -Path $Socket -Name pkg -TimeoutSec 20
    try {
        $st = Invoke-QmpCommand -Session $s -Command query-status
        $qmp = @{ Version = "$($s.QemuVersion)"; Status = $st.status; Running = $st.running }
    }
    finally { $s | Disconnect-QmpSession -Confirm:$false }
}
@{
    ModuleBase   = $m.ModuleBase
    Version      = "$($m.Version)"
    Commands     = @(Get-Command -Module ColoPS | ForEach-Object Name)
    Help         = $help
    Synopsis     = (Get-Help Get-ColoStatus).Synopsis
    Synopses     = @(Get-Command -Module ColoPS | ForEach-Object { @{ Name = $_.Name; Synopsis = "$((Get-Help $_.Name).Synopsis)".Trim() } })
    ConfigType   = $cfg.GetType().FullName
    ConfigSiteB  = $back.SiteB.Address
    ConfigPort   = $back.Ports.Nbd
    Qmp          = $qmp
} | ConvertTo-Json -Depth 4 | Set-Content $ResultPath
'@
            }
            AfterAll {
                if ($qemu) { Stop-TestQemu $qemu }
            }

            It 'imports ColoPS from the installed folder' {
                $fresh.ExitCode | Should -Be 0 -Because $fresh.Output
                $fresh.Result.ModuleBase | Should -BeLike "$userModules*"
                $fresh.Result.Version | Should -BeExactly $version
                $exported = (Import-PowerShellDataFile $manifest).CmdletsToExport
                Compare-Object @($fresh.Result.Commands) @($exported) | Should -BeNullOrEmpty
            }

            It 'answers Get-ColoStatus -? from the help system' {
                $fresh.Result.Help | Should -Match 'NAME\s+Get-ColoStatus'
                $fresh.Result.Help | Should -Match 'SYNTAX\s+Get-ColoStatus'
            }

            It 'finds the packaged help: every exported cmdlet shows the synopsis of the packaged MAML, Get-ColoStatus -? too' {
                $maml = Join-Path $moduleDir 'en-US/ColoPS.dll-Help.xml'
                $maml | Should -Exist
                $ns = @{ command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'; maml = 'http://schemas.microsoft.com/maml/2004/10' }
                $documented = @(Select-Xml -Path $maml -XPath '//command:command/command:details' -Namespace $ns | ForEach-Object {
                        @{ Name = $_.Node.name.Trim(); Synopsis = (@($_.Node.description.para) -join ' ').Trim() }
                    })
                @($documented.Name) | Sort-Object | Should -Be @((Import-PowerShellDataFile $manifest).CmdletsToExport | Sort-Object)
                foreach ($d in $documented) {
                    $shown = ($fresh.Result.Synopses | Where-Object Name -EQ $d.Name).Synopsis
                    $shown | Should -BeExactly $d.Synopsis -Because "the installed module should show the packaged help of $($d.Name)"
                }
                $fresh.Result.Help | Should -Match 'SYNOPSIS'
                $first = ($documented | Where-Object Name -EQ 'Get-ColoStatus').Synopsis -split '\s+' | Select-Object -First 4
                $first | Should -Not -BeNullOrEmpty
                $fresh.Result.Help | Should -Match ([regex]::Escape($first -join ' '))
            }

            It 'runs New-ColoConfig, Export-ColoConfig and Import-ColoConfig' {
                $fresh.Result.ConfigType | Should -BeExactly 'ColoPS.Colo.ColoConfig'
                $fresh.Result.ConfigSiteB | Should -BeExactly '127.0.0.2'
                $fresh.Result.ConfigPort | Should -Be 46909
            }

            It 'connects to a paused QEMU and runs a QMP command' -Skip:(-not $HasQemu) {
                $fresh.Result.Qmp.Status | Should -BeExactly 'prelaunch'
                $fresh.Result.Qmp.Running | Should -BeFalse
                $binaryVersion = (& qemu-system-x86_64 --version | Select-Object -First 1) -replace '^QEMU emulator version (\d+\.\d+\.\d+).*$', '$1'
                $fresh.Result.Qmp.Version | Should -BeExactly $binaryVersion
            }
        }
    }
}
