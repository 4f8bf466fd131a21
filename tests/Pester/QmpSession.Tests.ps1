# The QMP session cmdlets against a real QEMU (no guest OS: the VM stays paused with -S).

BeforeDiscovery {
    $script:HasQemu = [bool](Get-Command qemu-system-x86_64 -ErrorAction Ignore)
}

Describe 'QMP session against real QEMU' -Tag 'E2E', 'Qmp' -Skip:(-not $HasQemu) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-ColoPSUnderTest
        $dir = New-TestDirectory
        $qemu = Start-TestQemu -Directory $dir -Name 'qmptest'
        $session = Connect-QmpSession -Path $qemu.Socket -Name 'pester-qmp' -TimeoutSec 20
    }

    AfterAll {
        try { Get-QmpSession | Disconnect-QmpSession -Confirm:$false }
        finally {
            Stop-AllTestQemu
            if ($dir) { Remove-Item $dir -Recurse -Force -ErrorAction Ignore }
        }
    }

    It 'connects and reports the version the binary reports' {
        $session | Should -BeOfType ([ColoPS.Qmp.QmpSession])
        $session.State | Should -Be 'Running'
        $binaryVersion = (& qemu-system-x86_64 --version | Select-Object -First 1) -replace '^QEMU emulator version (\d+\.\d+\.\d+).*$', '$1'
        $session.QemuVersion.ToString() | Should -BeExactly $binaryVersion
        $session.Capabilities | Should -Contain 'oob'
        $session.Id | Should -BeGreaterThan 0
        $session.InstanceId | Should -Not -Be ([guid]::Empty)
        $session.Endpoint.ToString() | Should -BeExactly "unix:$($qemu.Socket)"
    }

    It 'is found by name, wildcard and id, and a missing literal name is an ObjectNotFound error' {
        (Get-QmpSession -Name 'pester-qmp').InstanceId | Should -Be $session.InstanceId
        (Get-QmpSession -Name 'pester-*').InstanceId | Should -Be $session.InstanceId
        (Get-QmpSession -Id $session.Id).Name | Should -BeExactly 'pester-qmp'
        Get-QmpSession -Name 'no-such-*' | Should -BeNullOrEmpty
        $null = Get-QmpSession -Name 'no-such-session' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpSessionNotFound,ColoPS.Commands.GetQmpSessionCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'runs query commands from the pipeline and converts JSON to PowerShell objects' {
        $status = Get-QmpSession -Name 'pester-qmp' | Invoke-QmpCommand query-status
        $status.status | Should -BeExactly 'prelaunch'
        $status.running | Should -BeFalse
        $commands = Invoke-QmpCommand -Session $session -Command query-commands
        $commands.Count | Should -BeGreaterThan 100
        $commands.name | Should -Contain 'query-colo-status'
        $commands.name | Should -Contain 'x-colo-lost-heartbeat'
        $version = Invoke-QmpCommand $session query-version
        $version.qemu.major | Should -BeOfType ([long])
    }

    It 'passes arguments from a hashtable' {
        $opts = Invoke-QmpCommand $session query-command-line-options @{ option = 'chardev' }
        @($opts).Count | Should -Be 1
        $opts.option | Should -BeExactly 'chardev'
    }

    It 'reports QMP errors as non-terminating records whose id names the error class' -TestCases @(
        @{ Command = 'no-such-command'; Arguments = @{}; Id = 'QmpCommandNotFound'; Category = 'NotImplemented'; Class = 'CommandNotFound' }
        @{ Command = 'qom-get'; Arguments = @{ path = '/machine'; property = 'no-such-property' }; Id = 'QmpGenericError'; Category = 'InvalidOperation'; Class = 'GenericError' }
        @{ Command = 'query-block-jobs'; Arguments = @{ unexpected = 1 }; Id = 'QmpGenericError'; Category = 'InvalidOperation'; Class = 'GenericError' }
        @{ Command = 'block_set_io_throttle'; Arguments = @{ id = 'nope'; bps = 0; bps_rd = 0; bps_wr = 0; iops = 0; iops_rd = 0; iops_wr = 0 }; Id = 'QmpDeviceNotFound'; Category = 'ObjectNotFound'; Class = 'DeviceNotFound' }
    ) {
        param($Command, $Arguments, $Id, $Category, $Class)
        $out = Invoke-QmpCommand $session $Command $Arguments -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err | Should -HaveCount 1
        $err[0].FullyQualifiedErrorId | Should -BeExactly "$Id,ColoPS.Commands.InvokeQmpCommandCommand"
        $err[0].CategoryInfo.Category | Should -Be $Category
        $err[0].Exception.ErrorClass | Should -BeExactly $Class
        $err[0].Exception.Description | Should -Not -BeNullOrEmpty
        $err[0].Exception.Command | Should -BeExactly $Command
        # The session survives an error.
        (Invoke-QmpCommand $session query-status).status | Should -Not -BeNullOrEmpty
    }

    It 'writes a returned array item by item, or as one array with -NoEnumerate' {
        $items = @(Invoke-QmpCommand $session query-command-line-options @{ option = 'chardev' })
        $items | Should -HaveCount 1
        $items[0].option | Should -BeExactly 'chardev'
        $whole = Invoke-QmpCommand $session query-command-line-options @{ option = 'chardev' } -NoEnumerate
        , $whole | Should -BeOfType ([object[]])
        $whole.Count | Should -Be 1
        # An empty array: nothing on the pipeline, or one empty array.
        @(Invoke-QmpCommand $session query-block-jobs) | Should -HaveCount 0
        $empty = Invoke-QmpCommand $session query-block-jobs -NoEnumerate
        , $empty | Should -BeOfType ([object[]])
        $empty.Count | Should -Be 0
    }

    It 'gives an event''s data as PowerShell objects, from Wait-QmpEvent and Get-QmpEvent' {
        $mark = $session.LastEventSequence
        Invoke-QmpCommand $session system_reset | Out-Null
        $reset = Wait-QmpEvent -Session $session -Name RESET -AfterSequence $mark -TimeoutSec 10
        $reset.Data | Should -BeOfType ([pscustomobject])
        $reset.Data.guest | Should -BeFalse
        $reset.Data.reason | Should -BeExactly 'host-qmp-system-reset'
        $listed = Get-QmpEvent -Session $session -Name RESET | Where-Object Sequence -eq $reset.Sequence
        $listed.Data.reason | Should -BeExactly 'host-qmp-system-reset'
    }

    It 'waits for the event a command causes, using the sequence read before sending' {
        $mark = $session.LastEventSequence
        Invoke-QmpCommand $session cont | Out-Null
        $resume = Wait-QmpEvent -Session $session -Name RESUME -AfterSequence $mark -TimeoutSec 10
        $resume.Name | Should -BeExactly 'RESUME'
        $resume.Sequence | Should -BeGreaterThan $mark

        $mark = $session.LastEventSequence
        Invoke-QmpCommand $session stop | Out-Null
        $stop = Wait-QmpEvent -Session $session -Name STOP -AfterSequence $mark -TimeoutSec 10
        $stop.Name | Should -BeExactly 'STOP'
        $stop.Timestamp | Should -BeOfType ([DateTimeOffset])
        ([DateTimeOffset]::Now - $stop.Timestamp).TotalMinutes | Should -BeLessThan 5
        $stop.Session.InstanceId | Should -Be $session.InstanceId
        (Invoke-QmpCommand $session query-status).status | Should -BeExactly 'paused'

        $history = Get-QmpEvent -Session $session -Name 'RES*', 'STOP'
        $history.Name | Should -Contain 'STOP'
        $history.Name | Should -Contain 'RESUME'
    }

    It 'returns the STOP that came before the wait, when the wait follows the command that caused it' {
        Invoke-QmpCommand $session cont | Out-Null
        $resume = Wait-QmpEvent $session RESUME -TimeoutSec 10
        $resume.Name | Should -BeExactly 'RESUME'

        Invoke-QmpCommand $session stop | Out-Null
        # QEMU sends STOP before the reply to stop: it is in the history before the wait begins.
        $before = @(Get-QmpEvent $session STOP | Where-Object Sequence -gt $resume.Sequence)
        $before | Should -HaveCount 1
        $stop = Wait-QmpEvent $session STOP -TimeoutSec 10
        $stop.Sequence | Should -Be $before[0].Sequence

        # That wait took it: the next default wait wants a newer STOP, and there is none.
        $null = Wait-QmpEvent $session STOP -TimeoutSec 1 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpEventWaitTimeout,ColoPS.Commands.WaitQmpEventCommand'
        # -AfterSequence still finds it again.
        (Wait-QmpEvent $session STOP -AfterSequence $resume.Sequence -TimeoutSec 5).Sequence | Should -Be $stop.Sequence
    }

    It 'does not return an event from before the last command' {
        Invoke-QmpCommand $session cont | Out-Null
        Invoke-QmpCommand $session stop | Out-Null
        Invoke-QmpCommand $session query-status | Out-Null
        # The STOP came before query-status was sent: it belongs to the earlier command.
        $null = Wait-QmpEvent $session STOP -TimeoutSec 1 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpEventWaitTimeout,ColoPS.Commands.WaitQmpEventCommand'
    }

    It 'times out a wait for an event that never comes, with a timeout error' {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $null = Wait-QmpEvent -Session $session -Name NEVER_HAPPENS -TimeoutSec 1 -ErrorVariable err -ErrorAction SilentlyContinue
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 5
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpEventWaitTimeout,ColoPS.Commands.WaitQmpEventCommand'
        $err[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
    }

    It 'runs HMP command lines' {
        $text = Invoke-QmpCommand $session -Hmp 'info status'
        $text | Should -Match 'VM status: paused'
    }

    It 'shows each QMP command sent on the verbose stream' {
        $verbose = Invoke-QmpCommand $session query-status -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        ($verbose.Message -join "`n") | Should -Match 'QMP pester-qmp --> \{"execute":"query-status","id":\d+\}'
    }

    It 'serves 8 thread jobs sharing one session, 200 commands each, without cross-talk' {
        $options = 'chardev', 'drive', 'netdev', 'object', 'machine', 'boot-opts', 'smp-opts', 'name'
        $jobs = foreach ($option in $options) {
            Start-ThreadJob -ArgumentList $session, $option, (Get-Module ColoPS).Path -ScriptBlock {
                param($s, $opt, $module)
                Import-Module $module
                $wrong = 0
                for ($i = 0; $i -lt 200; $i++) {
                    $r = Invoke-QmpCommand -Session $s -Command query-command-line-options -Arguments @{ option = $opt } -ErrorAction Stop
                    if ($r.option -ne $opt) { $wrong++ }
                }
                [pscustomobject]@{ Option = $opt; Wrong = $wrong }
            }
        }
        $results = $jobs | Wait-Job -Timeout 180 | Receive-Job
        $jobs | Remove-Job -Force
        $results | Should -HaveCount 8
        ($results | Measure-Object Wrong -Sum).Sum | Should -Be 0
        $session.UnknownReplyCount | Should -Be 0
        $session.PendingCommandCount | Should -Be 0
    }

    It 'fails a waiting Wait-QmpEvent at once with a disconnected error when QEMU is killed' {
        $victimDir = New-TestDirectory
        try {
            $victim = Start-TestQemu -Directory $victimDir -Name 'victim'
            $vs = Connect-QmpSession -Path $victim.Socket -Name 'victim'
            $killer = Start-ThreadJob -ArgumentList $victim.Process.Id -ScriptBlock { param($id) Start-Sleep -Seconds 1; Stop-Process -Id $id -Force }
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $null = Wait-QmpEvent -Session $vs -Name NEVER_HAPPENS -TimeoutSec 60 -ErrorVariable err -ErrorAction SilentlyContinue
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 15
            $killer | Wait-Job -Timeout 10 | Remove-Job -Force
            $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpSessionDisconnected,ColoPS.Commands.WaitQmpEventCommand'
            $err[0].CategoryInfo.Category | Should -Be 'ConnectionError'
            $vs.State | Should -Be 'Broken'
            $vs.FaultReason | Should -Not -BeNullOrEmpty
            # Later calls fail fast with the same error id.
            $null = Invoke-QmpCommand $vs query-status -ErrorVariable err2 -ErrorAction SilentlyContinue
            $err2[0].FullyQualifiedErrorId | Should -BeExactly 'QmpSessionDisconnected,ColoPS.Commands.InvokeQmpCommandCommand'
            # Disconnect tolerates a dead session.
            { $vs | Disconnect-QmpSession -Confirm:$false -ErrorAction Stop } | Should -Not -Throw
            Get-QmpSession -Name 'victim' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
        finally {
            Stop-TestQemu $victim
            Remove-Item $victimDir -Recurse -Force -ErrorAction Ignore
        }
    }

    It 'logs every message sent and received to -LogPath, with secrets redacted' {
        $logDir = New-TestDirectory
        try {
            $logged = Start-TestQemu -Directory $logDir -Name 'logged'
            $log = Join-Path $logDir 'qmp.log'
            $ls = Connect-QmpSession -Path $logged.Socket -Name 'logged' -LogPath $log
            Invoke-QmpCommand $ls query-status | Out-Null
            Invoke-QmpCommand $ls object-add @{ 'qom-type' = 'secret'; id = 'sec0'; data = 'hunter2' } | Out-Null
            $ls | Disconnect-QmpSession -Confirm:$false
            $text = Get-Content $log -Raw
            $text | Should -Match '--> \{"execute":"query-status"'
            $text | Should -Match '<-- \{"return": \{"status": "prelaunch"'
            $text | Should -Match '"data":"\*\*\*"'
            $text | Should -Not -Match 'hunter2'
        }
        finally {
            Stop-TestQemu $logged
            Remove-Item $logDir -Recurse -Force -ErrorAction Ignore
        }
    }

    It 'refuses a socket that does not exist with a connect error' {
        $null = Connect-QmpSession -Path (Join-Path $dir 'missing.qmp') -TimeoutSec 2 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpConnectFailed,ColoPS.Commands.ConnectQmpSessionCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ConnectionError'
    }

    It 'disconnects by name, closes the session and removes it from the registry' {
        Disconnect-QmpSession -Name 'pester-qmp' -Confirm:$false
        $session.State | Should -Be 'Closed'
        Get-QmpSession -Name 'pester-qmp' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $null = Invoke-QmpCommand $session query-status -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeExactly 'QmpSessionDisconnected,ColoPS.Commands.InvokeQmpCommandCommand'
    }
}
