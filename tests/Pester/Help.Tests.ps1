# Help of every ColoPS cmdlet as Get-Help shows it from the staged module, the about topic, and the
# committed MAML checked against a fresh run of tools/New-ColoMaml.ps1 (stale help fails here).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-ColoPSUnderTest
    # Only the cmdlets the loaded module really has (the manifest may list some not written yet).
    $script:Commands = @(Get-Command -Module ColoPS -CommandType Cmdlet | Sort-Object Name)
    $script:NotDescribed = [System.Management.Automation.Cmdlet]::CommonParameters + @('WhatIf', 'Confirm')
}

Describe 'ColoPS help' -Tag 'Help' {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-ColoPSUnderTest
        $repo = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath
        $generator = Join-Path $repo 'tools/New-ColoMaml.ps1'
        $docs = Join-Path $repo 'docs/en-US'
        $moduleBase = (Get-Module ColoPS).ModuleBase
        $manifest = Join-Path $moduleBase 'ColoPS.psd1'
        # Discovery-time variables do not reach the run phase: compute them again.
        $Commands = @(Get-Command -Module ColoPS -CommandType Cmdlet | Sort-Object Name)
        $NotDescribed = [System.Management.Automation.Cmdlet]::CommonParameters + @('WhatIf', 'Confirm')
    }

    It 'finds cmdlets in the module' {
        $Commands.Count | Should -BeGreaterThan 0
    }

    Context '<_.Name>' -ForEach $Commands {
        BeforeAll {
            $name = $_.Name
            $help = Get-Help -Name $name -Full
        }

        It 'has a synopsis that is not the generated syntax line' {
            $help.Synopsis | Should -Not -BeNullOrEmpty
            $help.Synopsis | Should -Not -Match "^\s*$([regex]::Escape($name))((\s+\[+?-\w+)|$)"
        }

        It 'has a description' {
            ($help.description.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty
        }

        It 'has at least two examples, each with code' {
            $examples = @($help.examples.example)
            $examples.Count | Should -BeGreaterOrEqual 2
            foreach ($example in $examples) {
                "$($example.code)".Trim() | Should -Not -BeNullOrEmpty -Because "example '$($example.title)' needs code"
            }
        }

        It 'has an example written for a runbook (no prompt, errors handled)' {
            # Interactive examples show objects; a runbook example stops on errors or handles them,
            # and passes -Confirm:$false where the cmdlet would ask.
            $runbook = @($help.examples.example | Where-Object { "$($_.code)" -match '\$ErrorActionPreference|-ErrorAction|-Confirm:\$false|\btry\b|\bcatch\b' })
            $runbook | Should -Not -BeNullOrEmpty -Because "$name needs an example a runbook can copy"
        }

        It 'describes -<_>' -ForEach @($_.Parameters.Keys | Where-Object { $_ -notin $NotDescribed } | Sort-Object) {
            $parameterName = $_
            $parameter = @($help.parameters.parameter) | Where-Object { $_.name -eq $parameterName }
            $parameter | Should -Not -BeNullOrEmpty -Because "Get-Help must list -$parameterName"
            ($parameter.description.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty
        }

        It 'lists its inputs and outputs' {
            @($help.inputTypes.inputType.type.name | Where-Object { "$_".Trim() }) | Should -Not -BeNullOrEmpty
            @($help.returnValues.returnValue.type.name | Where-Object { "$_".Trim() }) | Should -Not -BeNullOrEmpty
        }
    }

    Context 'about_ColoPS' {
        It 'is shown by Get-Help and talks about COLO' {
            $text = Get-Help -Name about_ColoPS | Out-String
            $text | Should -Match 'about_ColoPS'
            $text | Should -Match '\bCOLO\b'
            $text | Should -Match 'LastEventSequence'
        }

        It 'has the parts an operator needs: concepts, the procedure of each cmdlet, QEMU versions, security' {
            $text = Get-Content (Join-Path $moduleBase 'en-US/about_ColoPS.help.txt') -Raw
            foreach ($heading in 'WHAT COLO IS', 'SITES AND ROLES', 'PROTECTION STATES', 'WHAT EACH COLO CMDLET DOES', 'SUPPORTED QEMU VERSIONS', 'SECURITY', 'RUNBOOKS AND SCHEDULED TASKS', 'ERROR IDS') {
                $text | Should -Match "(?m)^$heading\s*$" -Because "about_ColoPS needs a '$heading' section"
            }
            foreach ($state in 'Protected', 'Unprotected', 'Failed', 'Starting', 'Down') { $text | Should -Match "\b$state\b" }
            foreach ($command in $Commands.Name) { $text | Should -Match "\b$([regex]::Escape($command))\b" -Because "about_ColoPS should name $command" }
        }

        It 'is shipped as <ModuleBase>/en-US/about_ColoPS.help.txt' {
            Join-Path $moduleBase 'en-US/about_ColoPS.help.txt' | Should -Exist
        }
    }

    Context 'committed help files' {
        BeforeAll {
            $fresh = Join-Path $TestDrive 'fresh'
            & $generator -MarkdownPath $docs -OutputPath $fresh -ModulePath $manifest -WarningAction SilentlyContinue
        }

        It 'en-US/<_> is byte-identical to what tools/New-ColoMaml.ps1 makes now' -ForEach @('ColoPS.dll-Help.xml', 'about_ColoPS.help.txt') {
            $committed = Join-Path $repo "en-US/$_"
            $committed | Should -Exist
            $want = [System.IO.File]::ReadAllText((Join-Path $fresh $_))
            $have = [System.IO.File]::ReadAllText($committed)
            $have | Should -BeExactly $want -Because 'the help is stale: run ./build.ps1 Help and commit en-US/'
            [System.Linq.Enumerable]::SequenceEqual([System.IO.File]::ReadAllBytes($committed), [System.IO.File]::ReadAllBytes((Join-Path $fresh $_))) | Should -BeTrue
        }

        It 'the MAML is UTF-8 without a byte order mark' {
            $bytes = [System.IO.File]::ReadAllBytes((Join-Path $repo 'en-US/ColoPS.dll-Help.xml'))
            [System.Text.Encoding]::ASCII.GetString($bytes, 0, 5) | Should -BeExactly '<?xml'
        }

        It 'the staged module ships <_> with the exact file name' -ForEach @('ColoPS.dll-Help.xml', 'about_ColoPS.help.txt') {
            $names = @(Get-ChildItem (Join-Path $moduleBase 'en-US') -File | ForEach-Object Name)
            $names -ccontains $_ | Should -BeTrue -Because "Linux file names are case-sensitive; en-US holds: $($names -join ', ')"
        }
    }

    Context 'tools/New-ColoMaml.ps1' {
        BeforeEach {
            $work = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
            $pages = Join-Path $work 'docs'
            $null = New-Item -ItemType Directory -Path $pages
            Copy-Item (Join-Path $docs '*.md') $pages
        }

        It 'gives the same bytes on every run' {
            & $generator -MarkdownPath $pages -OutputPath (Join-Path $work 'a') -ModulePath $manifest -WarningAction SilentlyContinue
            & $generator -MarkdownPath $pages -OutputPath (Join-Path $work 'b') -ModulePath $manifest -WarningAction SilentlyContinue
            $a = [System.IO.File]::ReadAllBytes((Join-Path $work 'a/ColoPS.dll-Help.xml'))
            $b = [System.IO.File]::ReadAllBytes((Join-Path $work 'b/ColoPS.dll-Help.xml'))
            [System.Linq.Enumerable]::SequenceEqual($a, $b) | Should -BeTrue
        }

        It 'names the missing page when a cmdlet has none' {
            $victim = $Commands[0].Name
            Remove-Item (Join-Path $pages "$victim.md")
            { & $generator -MarkdownPath $pages -OutputPath (Join-Path $work 'out') -ModulePath $manifest -WarningAction SilentlyContinue } |
                Should -Throw "*$victim has no help page*$victim.md*"
        }

        It 'refuses a page without a synopsis or a parameter description' {
            $command = $Commands | Where-Object { @($_.Parameters.Keys | Where-Object { $_ -notin $NotDescribed }).Count } | Select-Object -First 1
            $parameter = @($command.Parameters.Keys | Where-Object { $_ -notin $NotDescribed } | Sort-Object)[0]
            $path = Join-Path $pages "$($command.Name).md"
            $text = [System.IO.File]::ReadAllText($path)
            $text = [regex]::Replace($text, '(?s)(## SYNOPSIS\n).*?(\n## )', '$1$2')
            $text = [regex]::Replace($text, "(?s)(### -$parameter\n).*?(\n``````yaml)", '$1$2')
            [System.IO.File]::WriteAllText($path, $text)
            $failure = { & $generator -MarkdownPath $pages -OutputPath (Join-Path $work 'out') -ModulePath $manifest -WarningAction SilentlyContinue } |
                Should -Throw -PassThru
            $failure.Exception.Message | Should -BeLike '*## SYNOPSIS is missing*'
            $failure.Exception.Message | Should -BeLike "*-$parameter has no description*"
            Join-Path $work 'out/ColoPS.dll-Help.xml' | Should -Not -Exist
        }
    }
}
