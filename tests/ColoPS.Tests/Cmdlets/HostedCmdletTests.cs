using System;
using System.Collections;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text.Json.Nodes;
using System.Threading.Tasks;
using ColoPS.Commands;
using ColoPS.Qmp;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Cmdlets
{
    /// <summary>
    /// The QMP cmdlets in an in-process runspace against the fake server: how JSON becomes
    /// PowerShell objects and how QMP errors become ErrorRecords. Real QEMU runs in the Pester suite.
    /// </summary>
    public class HostedCmdletTests
    {
        private static PowerShell NewShell()
        {
            var iss = InitialSessionState.CreateDefault2();
            iss.ImportPSModule(new[] { typeof(ConnectQmpSessionCommand).Assembly.Location });
            return PowerShell.Create(iss);
        }

        /// <summary>A runspace with ColoPS whose Connect-QmpSession reached the fake server.</summary>
        private sealed class Hosted : IDisposable
        {
            private readonly FakeQmpServer _server;

            private Hosted(FakeQmpServer server, PowerShell shell, FakeQmpConnection qemu, QmpSession session)
            {
                _server = server;
                Shell = shell;
                Qemu = qemu;
                Session = session;
            }

            public PowerShell Shell { get; }
            public FakeQmpConnection Qemu { get; }
            public QmpSession Session { get; }

            public static async Task<Hosted> ConnectAsync()
            {
                var server = new FakeQmpServer();
                var accept = server.AcceptAsync();
                var ps = NewShell();
                ps.AddCommand("Connect-QmpSession").AddParameter("Path", server.SocketPath).AddParameter("Name", "hosted-" + Guid.NewGuid().ToString("N"));
                var connect = ps.InvokeAsync();
                var qemu = await accept.WaitAsync(FakeQmpServer.Timeout);
                await qemu.HandshakeAsync();
                var session = (QmpSession)(await connect.WaitAsync(FakeQmpServer.Timeout)).Single().BaseObject;
                ps.Commands.Clear();
                return new Hosted(server, ps, qemu, session);
            }

            public void Dispose()
            {
                Session.Dispose();
                QmpSessionRegistry.Remove(Session);
                Shell.Dispose();
                _server.Dispose();
            }
        }

        [Theory]
        [InlineData(ActionPreference.Continue, true)]
        [InlineData(ActionPreference.SilentlyContinue, false)]
        public async Task Wait_QmpEvent_shows_progress_while_it_waits_unless_ProgressPreference_silences_it(ActionPreference preference, bool shown)
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            ps.Runspace.SessionStateProxy.SetVariable("ProgressPreference", preference);
            ps.AddCommand("Wait-QmpEvent").AddParameter("Session", session).AddParameter("Name", "RESUME").AddParameter("TimeoutSec", 10);
            var wait = ps.InvokeAsync();
            await Task.Delay(1300); // progress is refreshed every 500 ms while nothing comes
            await qemu.SendEventAsync("RESUME");
            var result = (await wait.WaitAsync(FakeQmpServer.Timeout)).Single();
            Assert.Equal("RESUME", ((QmpEvent)result.BaseObject).Name);
            var progress = ps.Streams.Progress.Where(p => p.Activity == "Waiting for QMP event").ToList();
            if (shown)
            {
                Assert.Contains(progress, p => p.RecordType == ProgressRecordType.Processing && p.StatusDescription.StartsWith("RESUME on ", StringComparison.Ordinal));
                Assert.Equal(ProgressRecordType.Completed, progress.Last().RecordType);
            }
            else
            {
                Assert.Empty(progress);
            }
        }

        [Fact]
        public async Task Invoke_QmpCommand_writes_objects_as_PSCustomObject_and_integers_as_Int64()
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            ps.Commands.Clear();
            ps.AddCommand("Invoke-QmpCommand").AddParameter("Session", session).AddParameter("Command", "query-status");
            var invoke = ps.InvokeAsync();
            var cmd = await qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            Assert.Equal("query-status", cmd.Name);
            await qemu.ReplyAsync(cmd, JsonNode.Parse(@"{""status"":""running"",""running"":true,""n"":42,""list"":[1,""a""]}"));
            var result = (await invoke.WaitAsync(FakeQmpServer.Timeout)).Single();
            Assert.IsType<PSCustomObject>(result.BaseObject);
            Assert.Equal("running", result.Properties["status"].Value);
            Assert.Equal(true, result.Properties["running"].Value);
            Assert.IsType<long>(result.Properties["n"].Value);
            var list = Assert.IsType<object[]>(result.Properties["list"].Value);
            Assert.Equal(1L, list[0]);
        }

        [Theory]
        [InlineData("CommandNotFound", "QmpCommandNotFound", ErrorCategory.NotImplemented)]
        [InlineData("DeviceNotFound", "QmpDeviceNotFound", ErrorCategory.ObjectNotFound)]
        [InlineData("GenericError", "QmpGenericError", ErrorCategory.InvalidOperation)]
        [InlineData("DeviceNotActive", "QmpDeviceNotActive", ErrorCategory.ResourceUnavailable)]
        [InlineData("__com.example_Custom", "QmpCommandError", ErrorCategory.NotSpecified)]
        public async Task A_QMP_error_is_a_non_terminating_record_named_after_its_class(string errorClass, string id, ErrorCategory category)
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            ps.Commands.Clear();
            ps.Streams.Error.Clear();
            ps.AddCommand("Invoke-QmpCommand").AddParameter("Session", session).AddParameter("Command", "something")
              .AddParameter("Arguments", new Hashtable { ["a"] = 1, ["nested"] = new Hashtable { ["b"] = new[] { "x", "y" } } });
            var invoke = ps.InvokeAsync();
            var cmd = await qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            Assert.Equal(1, cmd.Arguments!["a"]!.GetValue<long>());
            Assert.Equal("y", cmd.Arguments!["nested"]!["b"]![1]!.GetValue<string>());
            await qemu.ReplyErrorAsync(cmd, errorClass, "it failed");
            var output = await invoke.WaitAsync(FakeQmpServer.Timeout);
            Assert.Empty(output);
            var error = Assert.Single(ps.Streams.Error);
            Assert.Equal(id + ",ColoPS.Commands.InvokeQmpCommandCommand", error.FullyQualifiedErrorId);
            Assert.Equal(category, error.CategoryInfo.Category);
            var ex = Assert.IsType<QmpCommandException>(error.Exception);
            Assert.Equal(errorClass, ex.ErrorClass);
            Assert.Equal("it failed", ex.Description);
        }

        [Theory] // a plain call waits on the pipeline thread, a -Verbose one through the message pump: Ctrl+C must end both
        [InlineData(false)]
        [InlineData(true)]
        public async Task Stopping_the_pipeline_ends_an_unanswered_Invoke_QmpCommand_at_once(bool verbose)
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            ps.AddCommand("Invoke-QmpCommand").AddParameter("Session", session).AddParameter("Command", "query-status").AddParameter("TimeoutSec", 600);
            if (verbose) ps.AddParameter("Verbose");
            var invoke = ps.InvokeAsync();
            var cmd = await qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            Assert.Equal("query-status", cmd.Name);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await ps.StopAsync(null, null).WaitAsync(FakeQmpServer.Timeout);   // what Ctrl+C does
            await Assert.ThrowsAsync<PipelineStoppedException>(() => invoke.WaitAsync(FakeQmpServer.Timeout));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the call did not stop promptly");
            Assert.Equal(QmpSessionState.Running, session.State);
            await qemu.ReplyAsync(cmd, JsonNode.Parse("{}"));
            for (int i = 0; i < 100 && session.LateReplyCount == 0; i++) await Task.Delay(20);
            Assert.Equal(1, session.LateReplyCount); // the reply to the stopped call is dropped, not given to the next one
        }

        [Fact] // QEMU sends STOP before the reply to stop: a wait typed after the command must still find it
        public async Task Wait_QmpEvent_after_Invoke_QmpCommand_returns_the_event_the_command_caused()
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            await InvokeAsync(ps, qemu, session, "cont", "RESUME");      // an older STOP-free history: RESUME only
            await qemu.SendEventAsync("STOP");                  // a STOP nobody asked for, before our command
            await WaitForSequenceAsync(session, 2);
            await InvokeAsync(ps, qemu, session, "stop", "STOP");        // the STOP this command causes, #3

            var stop = await WaitEventAsync(ps, session, "STOP", 5);
            Assert.NotNull(stop);
            Assert.Equal(3L, stop!.Properties["Sequence"].Value);

            // Taken by that wait: the next default wait wants a later STOP, and times out without one.
            Assert.Null(await WaitEventAsync(ps, session, "STOP", 1));
            Assert.Equal("QmpEventWaitTimeout,ColoPS.Commands.WaitQmpEventCommand", Assert.Single(ps.Streams.Error).FullyQualifiedErrorId);

            // -AfterSequence is exact and ignores what earlier waits took.
            ps.Streams.Error.Clear();
            ps.AddCommand("Wait-QmpEvent").AddParameter("Session", session).AddParameter("Name", "STOP").AddParameter("AfterSequence", 0L).AddParameter("TimeoutSec", 5);
            var again = (await ps.InvokeAsync().WaitAsync(FakeQmpServer.Timeout)).Single();
            ps.Commands.Clear();
            Assert.Equal(2L, again.Properties["Sequence"].Value);
        }

        [Fact] // the stale STOP came before the last command: a default wait ignores it and waits for a new one
        public async Task Wait_QmpEvent_ignores_events_from_before_the_last_command()
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            await qemu.SendEventAsync("STOP");
            await WaitForSequenceAsync(session, 1);
            await InvokeAsync(ps, qemu, session, "query-status", null);
            var wait = WaitEventAsync(ps, session, "STOP", 10);
            await Task.Delay(500);
            Assert.False(wait.IsCompleted, "the wait returned the stale STOP");
            await qemu.SendEventAsync("STOP");
            var stop = await wait.WaitAsync(FakeQmpServer.Timeout);
            Assert.Equal(2L, stop!.Properties["Sequence"].Value);
        }

        private static async Task InvokeAsync(PowerShell ps, FakeQmpConnection qemu, QmpSession session, string command, string? eventBeforeReply)
        {
            ps.AddCommand("Invoke-QmpCommand").AddParameter("Session", session).AddParameter("Command", command);
            var invoke = ps.InvokeAsync();
            var cmd = await qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            Assert.Equal(command, cmd.Name);
            if (eventBeforeReply != null) await qemu.SendEventAsync(eventBeforeReply);
            await qemu.ReplyAsync(cmd, JsonNode.Parse("{}"));
            await invoke.WaitAsync(FakeQmpServer.Timeout);
            ps.Commands.Clear();
        }

        private static async Task<PSObject?> WaitEventAsync(PowerShell ps, QmpSession session, string name, int timeoutSec)
        {
            ps.AddCommand("Wait-QmpEvent").AddParameter("Session", session).AddParameter("Name", name).AddParameter("TimeoutSec", timeoutSec);
            var output = await ps.InvokeAsync().WaitAsync(TimeSpan.FromSeconds(timeoutSec + 10));
            ps.Commands.Clear();
            return output.SingleOrDefault();
        }

        private static async Task WaitForSequenceAsync(QmpSession session, long sequence)
        {
            for (int i = 0; i < 250 && session.LastEventSequence < sequence; i++) await Task.Delay(20);
            Assert.Equal(sequence, session.LastEventSequence);
        }

        [Fact]
        public async Task Stopping_the_pipeline_ends_a_wait_at_once()
        {
            using var h = await Hosted.ConnectAsync();
            var (ps, qemu, session) = (h.Shell, h.Qemu, h.Session);
            ps.Commands.Clear();
            ps.AddCommand("Wait-QmpEvent").AddParameter("Session", session).AddParameter("Name", "NEVER").AddParameter("TimeoutSec", 600);
            var wait = ps.InvokeAsync();
            await Task.Delay(300);
            Assert.False(wait.IsCompleted);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await ps.StopAsync(null, null).WaitAsync(FakeQmpServer.Timeout);   // what Ctrl+C does
            await Assert.ThrowsAsync<PipelineStoppedException>(() => wait.WaitAsync(FakeQmpServer.Timeout));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the wait did not stop promptly");
            Assert.Equal(QmpSessionState.Running, session.State);
        }

        [Fact]
        public async Task Get_ColoStatus_reports_a_QEMU_without_COLO_as_alive_and_unprotected()
        {
            // A build without replication: something the QEMU here cannot be made into on demand.
            using var h = await Hosted.ConnectAsync();
            h.Shell.AddCommand("Get-ColoStatus").AddParameter("Session", new[] { h.Session });
            var invoke = h.Shell.InvokeAsync();
            var status = await h.Qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            await h.Qemu.ReplyAsync(status, JsonNode.Parse(@"{""status"":""running"",""running"":true}"));
            var migrate = await h.Qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            await h.Qemu.ReplyAsync(migrate, new JsonObject());
            var colo = await h.Qemu.ReadCommandAsync().WaitAsync(FakeQmpServer.Timeout);
            Assert.Equal("query-colo-status", colo.Name);
            await h.Qemu.ReplyErrorAsync(colo, "CommandNotFound", "The command query-colo-status has not been found");
            var result = (ColoPS.Colo.ColoStatus)(await invoke.WaitAsync(FakeQmpServer.Timeout)).Single().BaseObject;
            Assert.True(result.Alive);
            Assert.Equal(ColoPS.Colo.ColoProtection.Unprotected, result.Protection);
            Assert.Contains("no COLO support", result.Message);
            Assert.Empty(h.Shell.Streams.Error);
        }

        [Fact]
        public void Every_cmdlet_declares_its_output_type()
        {
            var cmdlets = typeof(ConnectQmpSessionCommand).Assembly.GetTypes()
                .Where(t => t.GetCustomAttributes(typeof(CmdletAttribute), false).Length > 0).ToList();
            Assert.True(cmdlets.Count >= 16);
            foreach (var t in cmdlets)
            {
                Assert.True(t.GetCustomAttributes(typeof(OutputTypeAttribute), false).Length > 0, t.Name + " has no [OutputType]");
                Assert.True(t.IsSealed, t.Name + " is not sealed");
            }
        }

        [Fact]
        public void Commands_that_change_a_VM_support_ShouldProcess_and_failover_is_high_impact()
        {
            var byName = typeof(ConnectQmpSessionCommand).Assembly.GetTypes()
                .Select(t => (Type: t, Attr: (CmdletAttribute?)t.GetCustomAttributes(typeof(CmdletAttribute), false).FirstOrDefault()))
                .Where(x => x.Attr != null)
                .ToDictionary(x => x.Attr!.VerbName + "-" + x.Attr.NounName, x => x.Attr!);
            foreach (var name in new[] { "Start-ColoSecondary", "Start-ColoPrimary", "Invoke-ColoFailover", "Resume-ColoReplication", "Stop-ColoNode", "Invoke-QmpCommand", "Disconnect-QmpSession", "Export-ColoConfig" })
            {
                Assert.True(byName[name].SupportsShouldProcess, name);
            }
            Assert.Equal(ConfirmImpact.High, byName["Invoke-ColoFailover"].ConfirmImpact);
            Assert.Equal(ConfirmImpact.High, byName["Resume-ColoReplication"].ConfirmImpact);
        }
    }
}
