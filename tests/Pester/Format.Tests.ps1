# The views of ColoPS.Format.ps1xml, on real objects from a real QEMU: each type has a table and a
# list view, and PowerShell picks them (the default table of Get-ColoStatus answers "am I
# protected?" with its Protection column).

BeforeDiscovery {
    $script:HasQemu = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore)
    $script:ViewTypes = @(
        @{ Type = 'ColoPS.Qmp.QmpSession' }
        @{ Type = 'ColoPS.Qmp.QmpEvent' }
        @{ Type = 'ColoPS.Colo.ColoNode' }
        @{ Type = 'ColoPS.Colo.ColoStatus' }
        @{ Type = 'ColoPS.Colo.ColoCommandLine' }
    )
}

Describe 'Format views' -Tag 'Format' {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-ColoPSUnderTest
    }

    It '<Type> has a table view and a list view' -ForEach $ViewTypes {
        $views = (Get-FormatData -TypeName $Type -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition
        @($views | Where-Object { $_.Control -is [System.Management.Automation.TableControl] }).Count | Should -Be 1
        @($views | Where-Object { $_.Control -is [System.Management.Automation.ListControl] }).Count | Should -Be 1
    }
}

Describe 'Format views on real objects' -Tag 'E2E', 'Format' -Skip:(-not $HasQemu) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-ColoPSUnderTest
        $tmp = New-TestDirectory
        $cfg = New-TestColoConfig -Directory $tmp -PortBase 46800 -Name fmt
        $node = Start-ColoSecondary -Config $cfg -Site B
        function Render($InputObject, [string] $As) {
            ($InputObject | & "Format-$As" | Out-String -Width 250) -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ }
        }
    }
    AfterAll {
        if ($node) { Stop-ColoNode -Node $node }
        Remove-TestDirectory $tmp
    }

    It 'shows a session as a table row and as a list with its counters' {
        $table = Render $node.Session Table
        $table[0] | Should -Match '^\s*Id\s+Name\s+State\s+QEMU\s+Oob\s+Endpoint$'
        $table[2] | Should -Match 'fmt-B\s+Running\s+11\.'
        $list = Render $node.Session List
        $list | Should -Contain "Name                 : fmt-B"
        ($list -match '^(Capabilities|EventHistoryCapacity|DiscardedEventCount|LateReplyCount)\s+:').Count | Should -Be 4
    }

    It 'shows a node and its status; the status table leads with the protection' {
        (Render $node Table)[0] | Should -Match '^Name\s+Site\s+Role\s+Pid\s+Address\s+QEMU\s+Accel\s+Session$'
        Render $node List | Should -Contain "Session          : fmt-B (Running, unix:$($cfg.QmpSocketOf('B')))"
        $st = Get-ColoStatus -Node $node
        (Render $st Table)[0] | Should -Match '^Node\s+Role\s+Protection\s+Mode\s+Checkpoints\s+Pause\s+Message$'
        (Render $st Table)[2] | Should -Match '^fmt-B\s+Secondary\s+Starting\s+none\b'
        Render $st List | Should -Contain 'Protection      : Starting'
    }

    It 'shows a primary''s checkpoints in the status table and list, and the whole message at 120 columns' {
        $primary = Start-ColoPrimary -Config $cfg -Site A -Secondary $node
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ((Get-ColoStatus -Node $primary).CheckpointCount -lt 2 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 250 }
            $st = Get-ColoStatus -Node $primary
            $st.CheckpointCount | Should -BeGreaterOrEqual 2
            (Render $st Table)[2] | Should -Match "^fmt-A\s+Primary\s+Protected\s+primary\s+$($st.CheckpointCount)\s+\d+ ms$"
            Render $st List | Should -Contain ("Checkpoints     : {0} checkpoints, last {1:HH:mm:ss} (pause {2:0} ms, median {3:0} ms, max {4:0} ms)" -f $st.Checkpoints.Count, $st.Checkpoints.Last, $st.Checkpoints.LastPause.TotalMilliseconds, $st.Checkpoints.MedianPause.TotalMilliseconds, $st.Checkpoints.MaxPause.TotalMilliseconds)

            # A side that is gone: its message is what the operator acts on, wrapped, not cut at 120 columns.
            Stop-Process -Id $node.ProcessId -Force; Wait-Process -Id $node.ProcessId -Timeout 10 -ErrorAction Ignore
            $gone = Get-ColoStatus -Node $node
            $gone.Message | Should -Match '^The QEMU process \d+ is gone\.'
            $text = ($gone | Format-Table | Out-String -Width 120) -replace '\s', ''
            $text | Should -BeLike ('*' + [WildcardPattern]::Escape(($gone.Message -replace '\s', '')) + '*')
        }
        finally { Stop-ColoNode -Node $primary -ErrorAction Ignore }
    }

    It 'shows events with their data' {
        $qemu = Start-TestQemu -Directory $tmp -Name fmtev
        $s = Connect-QmpSession -Path $qemu.Socket -Name fmt-events
        try {
            $mark = $s.LastEventSequence
            $null = Invoke-QmpCommand $s cont
            $evt = Wait-QmpEvent -Session $s -Name RESUME -AfterSequence $mark -TimeoutSec 10
            (Render $evt Table)[0] | Should -Match '^Sequence\s+Name\s+Time\s+Session\s+Data$'
            (Render $evt Table)[2] | Should -Match '^\s*\d+\s+RESUME\s+\d\d:\d\d:\d\d\.\d{6}\s+fmt-events$'
            Render $evt List | Should -Contain 'Session    : fmt-events'
        }
        finally {
            $s | Disconnect-QmpSession -Confirm:$false
            $qemu | Stop-TestQemu
        }
    }

    It 'shows a command line with its shell line' {
        $line = Get-ColoCommandLine -Config $cfg -Site A -Role Primary
        (Render $line Table)[0] | Should -Match '^Config\s+Site\s+Role\s+QEMU\s+CommandLine$'
        (Render $line List | Where-Object { $_ -like 'CommandLine *' }) | Should -Match '^CommandLine\s+: qemu-system-x86_64 -name fmt-A '
    }
}
