# Argument completers, through PowerShell's own completion engine, against a real QEMU.

BeforeDiscovery {
    $script:HasQemu = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore)
}

Describe 'Argument completion' -Tag 'E2E', 'Completion' -Skip:(-not $HasQemu) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-ColoPSUnderTest
        $dir = New-TestDirectory
        $qemu = Start-TestQemu -Directory $dir -Name 'cmpl'
        $global:ColoCompletionSession = Connect-QmpSession -Path $qemu.Socket -Name 'completion-test'
        function Complete([string] $line) {
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        }
    }
    AfterAll {
        try { $global:ColoCompletionSession | Disconnect-QmpSession -Confirm:$false }
        finally {
            Remove-Variable -Scope Global -Name ColoCompletionSession -ErrorAction Ignore
            Stop-AllTestQemu
            Remove-Item $dir -Recurse -Force -ErrorAction Ignore
        }
    }

    It 'completes session names' {
        Complete 'Get-QmpSession -Name completion-t' | Should -Contain 'completion-test'
    }

    It 'completes QMP command names from the session''s query-commands' {
        $names = Complete 'Invoke-QmpCommand -Session $global:ColoCompletionSession -Command query-colo'
        $names | Should -Contain 'query-colo-status'
        $names | Where-Object { $_ -notlike 'query-colo*' } | Should -BeNullOrEmpty
    }

    It 'completes event names from the session''s schema' {
        $names = Complete 'Wait-QmpEvent -Session $global:ColoCompletionSession -Name COLO'
        $names | Should -Contain 'COLO_EXIT'
        Complete 'Get-QmpEvent -Session $global:ColoCompletionSession -Name BLOCK_JOB_R' | Should -Contain 'BLOCK_JOB_READY'
    }

    It 'completes sites' {
        Complete 'Start-ColoSecondary -Site ' | Should -Be @('A', 'B')
    }
}
