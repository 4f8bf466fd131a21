# Hosts for the remote-QMP suite: each site in its own network namespace (rqa-<pid>, rqb-<pid>)
# and the operator in a third (rqc-<pid>), all on one bridge in the operator's; and fresh pwsh
# processes run inside them. The pid of the test run in the names: two runs on one machine do not
# tear down each other's hosts (addresses and devices live inside the namespaces).

$script:Namespaces = "rqa-$PID", "rqb-$PID", "rqc-$PID"

Import-Module (Join-Path $PSScriptRoot 'SiteHosts.psm1') -Force

function Get-RemoteNamespace {
    <# The suite's namespaces by role: A and B (the sites), C (the operator). #>
    @{ A = $script:Namespaces[0]; B = $script:Namespaces[1]; C = $script:Namespaces[2] }
}

function New-RemoteNetwork {
    <# Site A 10.79.0.1, site B 10.79.0.2, the operator 10.79.0.3; the bridge lives in the operator's namespace. #>
    $ns = Get-RemoteNamespace
    New-HostNetwork -SwitchNamespace $ns.C -SwitchAddress 10.79.0.3/24 -Bridge rqbr -MemberDevice rqe0 -Member @(
        @{ Namespace = $ns.A; Address = '10.79.0.1/24'; Port = 'rqpa' }
        @{ Namespace = $ns.B; Address = '10.79.0.2/24'; Port = 'rqpb' })
}

function Remove-RemoteNetwork { Remove-HostNetwork -Namespace $script:Namespaces }

function Get-NamespaceQemu {
    <# Pids of the QEMUs running inside a namespace. #>
    param([Parameter(Mandatory)] [string] $Namespace)
    foreach ($p in (& ip netns pids $Namespace 2>$null)) {
        if ($p -match '^\d+$' -and (Test-Path "/proc/$p/cmdline") -and ((Get-Content "/proc/$p/cmdline" -Raw) -match 'qemu-system')) { [int]$p }
    }
}

function Invoke-InNamespace {
    <#
    Runs a script in a new pwsh inside a namespace, with the module under test imported and
    $Config read from ConfigPath. The script's last output is written as JSON to a file; returns
    that object, or throws with everything the child said when it failed or took too long.
    #>
    param(
        [Parameter(Mandatory)] [string] $Namespace,
        [Parameter(Mandatory)] [string] $Script,
        [Parameter(Mandatory)] [string] $ConfigPath,
        [Parameter(Mandatory)] [string] $Directory,
        [hashtable] $Parameters = @{},
        [int] $TimeoutSec = 240,
        # An operator's host: these folders are not there (an empty tmpfs over each, in the
        # child's own mount namespace) and PATH is this one.
        [string[]] $Hide = @(),
        [string] $SearchPath
    )
    $file = Join-Path $Directory ('step-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
    $result = "$file.json"
    $module = if ($env:COLOPS_MODULE) { $env:COLOPS_MODULE } else { Join-Path $PSScriptRoot '../../out/ColoPS/ColoPS.psd1' }
    $body = @"
param([string] `$ResultPath, [string] `$ConfigPath, [string] `$Arg1, [string] `$Arg2)
`$ErrorActionPreference = 'Stop'
Import-Module '$module'
`$Config = Import-ColoConfig -Path `$ConfigPath
`$out = & { $Script }
ConvertTo-Json -InputObject `$out -Depth 6 | Set-Content -Path `$ResultPath
"@
    Set-Content -Path $file -Value $body
    $exe = Join-Path $PSHOME 'pwsh'
    $prefix = @()
    if (-not (Test-Path $exe)) {
        $exe = [System.Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
        if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $prefix = @(Join-Path $PSHOME 'pwsh.dll') }
    }
    $wrap = @()
    if ($Hide -or $SearchPath) {
        # ip netns exec gives the child a mount namespace of its own (a slave of the host's), so
        # these mounts go with it and never reach the host or the sites' pwsh.
        $lines = @('set -e') + @($Hide | ForEach-Object { "mount -t tmpfs -o size=64k,mode=0700 colops-hidden '$_'" })
        if ($SearchPath) { $lines += "export PATH='$SearchPath'" }
        $lines += 'exec "$@"'
        Set-Content -Path "$file.sh" -Value ($lines -join "`n")
        $wrap = @('/bin/sh', "$file.sh")
    }
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Namespace) + $wrap + @($exe) + $prefix + @('-NoProfile', '-NonInteractive', '-File', $file, '-ResultPath', $result, '-ConfigPath', $ConfigPath)) { $psi.ArgumentList.Add($a) }
    foreach ($k in $Parameters.Keys) { $psi.ArgumentList.Add("-$k"); $psi.ArgumentList.Add([string]$Parameters[$k]) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $child = [System.Diagnostics.Process]::Start($psi)
    $stdout = $child.StandardOutput.ReadToEndAsync()
    $stderr = $child.StandardError.ReadToEndAsync()
    if (-not $child.WaitForExit($TimeoutSec * 1000)) { $child.Kill($true); throw "The pwsh in $Namespace did not finish within $TimeoutSec s: $($stdout.Result)$($stderr.Result)" }
    $child.WaitForExit()
    $said = ($stdout.Result + $stderr.Result).Trim()
    if ($child.ExitCode -ne 0 -or -not (Test-Path $result)) { throw "The pwsh in $Namespace failed (exit $($child.ExitCode)): $said" }
    $json = Get-Content $result -Raw
    Remove-Item $file, $result, "$file.sh" -ErrorAction Ignore
    if ($said) { Write-Host "[$Namespace] $said" }
    $json | ConvertFrom-Json
}

function New-QemuFreePath {
    <#
    A folder of links to every program on PATH but QEMU's (qemu-system-*, qemu-img, ...): the PATH
    of a host with no QEMU installed. Returns the folder.
    #>
    param([Parameter(Mandatory)] [string] $Directory)
    $null = New-Item -ItemType Directory -Force $Directory
    foreach ($dir in $env:PATH -split [IO.Path]::PathSeparator | Where-Object { $_ -and (Test-Path -LiteralPath $_ -PathType Container) }) {
        foreach ($f in [System.IO.Directory]::EnumerateFiles($dir)) {
            $name = [IO.Path]::GetFileName($f)
            $link = Join-Path $Directory $name
            if ($name -notlike 'qemu*' -and -not (Test-Path -LiteralPath $link)) { $null = [System.IO.File]::CreateSymbolicLink($link, $f) }
        }
    }
    $Directory
}

Export-ModuleMember -Function New-RemoteNetwork, Remove-RemoteNetwork, Get-NamespaceQemu, Invoke-InNamespace, New-QemuFreePath, Get-RemoteNamespace
