# Configuration cmdlets and the bad-input table: every mistake gets its own error id, and nothing starts.

BeforeDiscovery {
    $script:HasQemu = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore)
    $long = '/tmp/' + ('x' * 100)
    $script:BadConfigs = @(
        @{ Case = 'name with a comma'; Id = 'ColoConfigInvalidName'; Change = @{ Name = 'bad,name' } }
        @{ Case = 'address that is not an IP'; Id = 'ColoConfigInvalidAddress'; Change = @{ SiteA = @{ Address = 'primary.example'; WorkDirectory = '<tmp>/a' } } }
        @{ Case = 'wildcard address'; Id = 'ColoConfigInvalidAddress'; Change = @{ SiteB = @{ Address = '0.0.0.0'; WorkDirectory = '<tmp>/b' } } }
        @{ Case = 'IPv6 address in brackets'; Id = 'ColoConfigInvalidAddress'; Change = @{ SiteA = @{ Address = '[::1]'; WorkDirectory = '<tmp>/a' } } }
        @{ Case = 'IPv6 zone id smuggling HMP words'; Id = 'ColoConfigInvalidAddress'; Change = @{ SiteA = @{ Address = 'fe80::1%a b=c'; WorkDirectory = '<tmp>/a' } } }
        @{ Case = 'both sites on one address'; Id = 'ColoConfigInvalidAddress'; Change = @{ SiteB = @{ Address = '127.0.0.1'; WorkDirectory = '<tmp>/b' } } }
        @{ Case = 'duplicate ports'; Id = 'ColoConfigDuplicatePort'; Change = @{ Ports = @{ Mirror = 46004; Compare = 46004 } } }
        @{ Case = 'port out of range'; Id = 'ColoConfigInvalidPort'; Change = @{ Ports = @{ Nbd = 70000 } } }
        @{ Case = 'port that is not a number'; Id = 'ColoConfigInvalidPort'; Change = @{ Ports = @{ Nbd = 'ninety' } } }
        @{ Case = 'comma in a work directory'; Id = 'ColoConfigInvalidPath'; Change = @{ SiteA = @{ Address = '127.0.0.1'; WorkDirectory = '<tmp>/a,b' } } }
        @{ Case = 'space in a work directory'; Id = 'ColoConfigInvalidPath'; Change = @{ SiteA = @{ Address = '127.0.0.1'; WorkDirectory = '<tmp>/a b' } } }
        @{ Case = '= in a disk path'; Id = 'ColoConfigInvalidPath'; Change = @{ SiteB = @{ Address = '127.0.0.2'; WorkDirectory = '<tmp>/b'; DiskPath = '<tmp>/b/x=y.qcow2' } } }
        @{ Case = 'one work directory for both sites'; Id = 'ColoConfigInvalidPath'; Change = @{ SiteB = @{ Address = '127.0.0.2'; WorkDirectory = '<tmp>/a' } } }
        @{ Case = 'socket path over 107 bytes'; Id = 'ColoConfigSocketPathTooLong'; Change = @{ SiteA = @{ Address = '127.0.0.1'; WorkDirectory = $long } } }
        @{ Case = 'unknown site key'; Id = 'ColoConfigUnknownKey'; Change = @{ SiteA = @{ Adress = '127.0.0.1'; WorkDirectory = '<tmp>/a' } } }
        @{ Case = 'unknown port name'; Id = 'ColoConfigUnknownKey'; Change = @{ Ports = @{ Heartbeat = 46100 } } }
        @{ Case = 'too little memory'; Id = 'ColoConfigInvalidMemory'; Change = @{ MemoryMB = 1 } }
        @{ Case = 'no vCPU'; Id = 'ColoConfigInvalidCpus'; Change = @{ Cpus = 0 } }
        @{ Case = 'empty disk size'; Id = 'ColoConfigInvalidDiskSize'; Change = @{ DiskSizeGB = 0 } }
        @{ Case = 'multicast MAC address'; Id = 'ColoConfigInvalidMacAddress'; Change = @{ MacAddress = '01:00:5e:00:00:01' } }
        @{ Case = 'MAC address with an option smuggled in'; Id = 'ColoConfigInvalidMacAddress'; Change = @{ MacAddress = '52:54:00:12:34:56,romfile=/x' } }
        @{ Case = 'tap backend without an interface'; Id = 'ColoConfigInvalidOption'; Change = @{ NetworkBackend = 'tap' } }
        @{ Case = 'a managed QEMU option as extra argument'; Id = 'ColoConfigInvalidArgument'; Change = @{ ExtraArgument = @('-incoming', 'tcp:0.0.0.0:1') } }
        @{ Case = 'negative checkpoint interval'; Id = 'ColoConfigInvalidTuning'; Change = @{ CheckpointIntervalMs = -5 } }
    )
    # What only the host that starts a site has: any host (an operator's too) takes the
    # configuration, the start of a site refuses it.
    $script:StartConfigs = @(
        @{ Case = 'missing QEMU binary'; Id = 'ColoConfigBinaryNotFound'; Change = @{ QemuBinary = 'qemu-system-nowhere' } }
        @{ Case = 'missing qemu-img'; Id = 'ColoConfigBinaryNotFound'; Change = @{ QemuImgBinary = '/nonexistent/qemu-img' } }
        @{ Case = 'disk image that does not exist'; Id = 'ColoConfigDiskImageNotFound'; Change = @{ DiskImage = '/nonexistent/base.qcow2' } }
    )
}

Describe 'COLO configuration' -Tag 'Unit', 'Config' -Skip:(-not $HasQemu) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-ColoPSUnderTest
        $tmp = New-TestDirectory
        function Get-BaseParameter {
            @{
                Name = 'cfg'; MemoryMB = 256; DiskSizeGB = 1
                SiteA = @{ Address = '127.0.0.1'; WorkDirectory = "$tmp/a" }
                SiteB = @{ Address = '127.0.0.2'; WorkDirectory = "$tmp/b" }
                Ports = @{ CompareIn = 46001; Mirror = 46003; Compare = 46004; CompareOut = 46005; Migration = 46008; Nbd = 46009 }
            }
        }
    }
    AfterAll {
        Remove-Item $tmp -Recurse -Force -ErrorAction Ignore
    }

    It 'creates a configuration with the procedure''s defaults' {
        $p = Get-BaseParameter
        $p.Remove('Ports')
        $cfg = New-ColoConfig @p
        $cfg | Should -BeOfType ([ColoPS.Colo.ColoConfig])
        $cfg.Ports.CompareIn, $cfg.Ports.Mirror, $cfg.Ports.Compare, $cfg.Ports.CompareOut, $cfg.Ports.Migration, $cfg.Ports.Nbd |
            Should -Be @(9001, 9003, 9004, 9005, 9998, 9999)
        $cfg.Qemu.Accelerator | Should -Be 'Auto'
        $cfg.SiteA.WorkDirectory | Should -BeExactly "$tmp/a"
        $cfg.Vm.MemoryMB | Should -Be 256
    }

    It 'round-trips through a JSON file' {
        $p = Get-BaseParameter
        $cfg = New-ColoConfig @p -CheckpointIntervalMs 2000 -CompareTimeoutMs 1500 -MacAddress '52:54:00:6a:01:02'
        $cfg | Export-ColoConfig -Path "$tmp/cfg.json"
        $back = Import-ColoConfig -Path "$tmp/cfg.json"
        $back.Name | Should -BeExactly 'cfg'
        $back.Vm.MacAddress | Should -BeExactly '52:54:00:6a:01:02'
        $back.Tuning.CheckpointIntervalMs | Should -Be 2000
        $back.Tuning.CompareTimeoutMs | Should -Be 1500
        $back.Ports.Nbd | Should -Be 46009
        $back.SiteB.Address | Should -BeExactly '127.0.0.2'
        Get-Content "$tmp/cfg.json" -Raw | ConvertFrom-Json | Select-Object -ExpandProperty SchemaVersion | Should -Be 1
    }

    It 'refuses to overwrite with -NoClobber and supports -WhatIf' {
        $p = Get-BaseParameter; $cfg = New-ColoConfig @p
        $cfg | Export-ColoConfig -Path "$tmp/keep.json"
        $stamp = (Get-Item "$tmp/keep.json").LastWriteTimeUtc
        $cfg | Export-ColoConfig -Path "$tmp/keep.json" -NoClobber -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoConfigFileExists,ColoPS.Commands.ExportColoConfigCommand'
        $cfg | Export-ColoConfig -Path "$tmp/never.json" -WhatIf
        Test-Path "$tmp/never.json" | Should -BeFalse
        (Get-Item "$tmp/keep.json").LastWriteTimeUtc | Should -Be $stamp
    }

    It 'rejects <Case> with <Id> and starts nothing' -ForEach $BadConfigs {
        $p = Get-BaseParameter
        foreach ($k in $Change.Keys) {
            $v = $Change[$k]
            if ($v -is [hashtable]) {
                $copy = @{}
                foreach ($kk in $v.Keys) { $copy[$kk] = if ($v[$kk] -is [string]) { $v[$kk].Replace('<tmp>', $tmp) } else { $v[$kk] } }
                $v = $copy
            }
            $p[$k] = $v
        }
        $out = New-ColoConfig @p -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err | Should -Not -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeExactly "$Id,ColoPS.Commands.NewColoConfigCommand"
        $err[0].CategoryInfo.Category | Should -BeIn @('InvalidData', 'InvalidArgument')
        $err[0].Exception.Message | Should -Not -BeNullOrEmpty
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
        Test-Path "$tmp/a" | Should -BeFalse
    }

    It 'takes a <Case> on any host and refuses it with <Id> when a site starts' -ForEach $StartConfigs {
        $p = Get-BaseParameter
        foreach ($k in $Change.Keys) { $p[$k] = $Change[$k] }
        $cfg = New-ColoConfig @p -ErrorAction Stop
        $cfg | Export-ColoConfig -Path "$tmp/start-only.json"
        $back = Import-ColoConfig -Path "$tmp/start-only.json" -ErrorAction Stop
        $back.Name | Should -BeExactly 'cfg'
        $ErrorActionPreference = 'Continue'
        foreach ($run in { Get-ColoCommandLine -Config $back -Site A -Role Primary }, { Start-ColoSecondary -Config $back -Site B }) {
            $out = @(& $run 2>&1)
            $err = @($out | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
            $out | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] } | Should -BeNullOrEmpty
            $err | Should -HaveCount 1
            $err[0].FullyQualifiedErrorId | Should -Match "^$Id,ColoPS.Commands.(GetColoCommandLine|StartColoSecondary)Command$"
            $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        }
        Get-QemuProcessUnder -Directory $tmp | Should -BeNullOrEmpty
        Test-Path "$tmp/a", "$tmp/b" | Should -Be @($false, $false)
    }

    It 'rejects a file that is not JSON' {
        Set-Content "$tmp/broken.json" '{ "Name": "x", '
        $null = Import-ColoConfig -Path "$tmp/broken.json" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoConfigInvalidJson,ColoPS.Commands.ImportColoConfigCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'rejects a file with an unknown member instead of ignoring it' {
        $p = Get-BaseParameter; $cfg = New-ColoConfig @p
        $cfg | Export-ColoConfig -Path "$tmp/extra.json"
        $json = Get-Content "$tmp/extra.json" -Raw | ConvertFrom-Json
        $json | Add-Member -NotePropertyName 'Heartbeat' -NotePropertyValue 5
        $json | ConvertTo-Json -Depth 6 | Set-Content "$tmp/extra.json"
        $null = Import-ColoConfig -Path "$tmp/extra.json" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoConfigInvalidJson,ColoPS.Commands.ImportColoConfigCommand'
    }

    It 'validates an imported file like a new one' {
        $p = Get-BaseParameter; $cfg = New-ColoConfig @p
        $cfg | Export-ColoConfig -Path "$tmp/edited.json"
        (Get-Content "$tmp/edited.json" -Raw).Replace('"127.0.0.2"', '"0.0.0.0"') | Set-Content "$tmp/edited.json"
        $null = Import-ColoConfig -Path "$tmp/edited.json" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoConfigInvalidAddress,ColoPS.Commands.ImportColoConfigCommand'
    }

    It 'rejects a file whose section is null, naming it, instead of failing later' {
        $p = Get-BaseParameter; $cfg = New-ColoConfig @p
        $cfg | Export-ColoConfig -Path "$tmp/nulls.json"
        $json = Get-Content "$tmp/nulls.json" -Raw | ConvertFrom-Json
        $json.Ports = $null
        $json.Tuning = $null
        $json | ConvertTo-Json -Depth 6 | Set-Content "$tmp/nulls.json"
        $null = Import-ColoConfig -Path "$tmp/nulls.json" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoConfigMissingSection,ColoPS.Commands.ImportColoConfigCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $err[0].Exception.Problems.Field | Should -Be @('Ports', 'Tuning')
    }

    It 'reports a missing file as not readable' {
        $null = Import-ColoConfig -Path "$tmp/missing.json" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'ColoConfigNotReadable,ColoPS.Commands.ImportColoConfigCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}
