using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qemu;
using ColoPS.Qmp;
using ColoPS.Qemu.States;
using ColoPS.Colo.Operations;

namespace ColoPS.Colo
{
    /// <summary>Runs a ColoPlan against a node's QMP session, step by step, stopping at the first failure.</summary>
    public sealed class ColoPlanRunner
    {
        private readonly QmpSession _session;
        private readonly ColoTimeouts _timeouts;
        private readonly Action<ColoProgress>? _progress;
        private readonly QmpSession? _peer;

        /// <param name="peer">The other side's session, when known: WaitForColo then also waits for the secondary to report COLO mode.</param>
        public ColoPlanRunner(QmpSession session, ColoTimeouts timeouts, Action<ColoProgress>? progress, QmpSession? peer = null)
        {
            _session = session;
            _timeouts = timeouts;
            _progress = progress;
            _peer = peer;
        }

        /// <summary>Called with the plan and the step's index (0-based) before each step: the seam crash tests stop a plan at.</summary>
        public Action<ColoPlan, int>? BeforeStep { get; init; }

        public Task RunAsync(ColoPlan plan, CancellationToken cancellationToken) => RunStepsAsync(plan, null, cancellationToken);

        /// <summary>
        /// Runs every step even when some fail (a clean-up: each step undoes something on its own).
        /// Returns the failures; a lost session ends it, since nothing more can be done.
        /// </summary>
        public async Task<IReadOnlyList<string>> RunBestEffortAsync(ColoPlan plan, CancellationToken cancellationToken)
        {
            var failures = new List<string>();
            await RunStepsAsync(plan, failures, cancellationToken).ConfigureAwait(false);
            return failures;
        }

        /// <param name="failures">Null: stop at the first failure. Otherwise: note it here and go on.</param>
        private async Task RunStepsAsync(ColoPlan plan, List<string>? failures, CancellationToken ct)
        {
            for (int i = 0; i < plan.Steps.Count; i++)
            {
                var step = plan.Steps[i];
                Report(plan.Name, $"{i + 1}/{plan.Steps.Count}: {step.Description}", (i * 100) / plan.Steps.Count);
                BeforeStep?.Invoke(plan, i);
                try
                {
                    await RunStepAsync(plan, step, ct).ConfigureAwait(false);
                }
                catch (ColoException ex) when (failures != null)
                {
                    failures.Add(ex.Message);
                }
                catch (QmpException ex) when (failures != null && ex is not QmpDisconnectedException)
                {
                    failures.Add($"{plan.Name} on {plan.NodeName} failed at '{step.Description}': {ex.Message}");
                }
            }
            Report(plan.Name, "done", 100, completed: true);
        }

        private async Task RunStepAsync(ColoPlan plan, ColoStep step, CancellationToken ct)
        {
            switch (step.Kind)
            {
                case ColoStepKind.Qmp:
                    try
                    {
                        await _session.ExecuteAsync(step.Command, step.Arguments,
                            new QmpCallOptions { OutOfBand = step.OutOfBand && _session.OobEnabled, Timeout = _timeouts.Command }, ct).ConfigureAwait(false);
                    }
                    catch (QmpCommandException ex)
                    {
                        throw new ColoException("ColoStepFailed", ColoErrorKind.OperationFailed,
                            $"{plan.Name} on {plan.NodeName} failed at '{step.Description}': {ex.Message}", ex);
                    }
                    break;
                case ColoStepKind.Hmp:
                    var line = step.HmpLine!;
                    string output = await _session.ExecuteHumanAsync(line, _timeouts.Command, ct).ConfigureAwait(false);
                    // HMP reports failure as text in a successful reply; the commands used here print nothing on success.
                    if (!string.IsNullOrWhiteSpace(output))
                    {
                        throw new ColoException("ColoStepFailed", ColoErrorKind.OperationFailed,
                            $"{plan.Name} on {plan.NodeName} failed at '{step.Description}': HMP '{line}' said: {output.Trim()}");
                    }
                    break;
                case ColoStepKind.WaitForColo:
                    await WaitForColoAsync(plan, ct).ConfigureAwait(false);
                    break;
                case ColoStepKind.WaitForJobReady:
                    await WaitForJobAsync(plan, step.JobId!, ready: true, _timeouts.Mirror, ct).ConfigureAwait(false);
                    break;
                case ColoStepKind.WaitForJobGone:
                    await WaitForJobAsync(plan, step.JobId!, ready: false, _timeouts.Command, ct).ConfigureAwait(false);
                    break;
                case ColoStepKind.WaitForColoExit:
                    await PollAsync(plan, "COLO mode none", _timeouts.Failover, async () =>
                    {
                        var s = await _session.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
                        return ColoMode.Parse(Json.Str(s, "mode")) == ColoMode.None;
                    }, ct).ConfigureAwait(false);
                    break;
                case ColoStepKind.WaitForPeerChardevs:
                    await PollAsync(plan, "secondary connected to the mirror and compare sockets", _timeouts.PeerConnect, async () =>
                    {
                        foreach (var id in QemuCommandLine.Ids.PeerFacingChardevs(secondary: false))
                        {
                            var on = await _session.ExecuteAsync("qom-get", new JsonObject { ["path"] = "/chardevs/" + id, ["property"] = "connected" }, ct).ConfigureAwait(false);
                            if (on.ValueKind != JsonValueKind.True) return false;
                        }
                        return true;
                    }, ct).ConfigureAwait(false);
                    break;
                default:
                    throw new InvalidOperationException("Unknown step kind " + step.Kind);
            }
        }

        // The primary reports "colo" before the secondary has loaded the last state, so COLO is
        // only up when the secondary says mode secondary and the primary runs again.
        private async Task WaitForColoAsync(ColoPlan plan, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            string last = string.Empty;
            await PollAsync(plan, "migration status colo", _timeouts.Migration, async () =>
            {
                var m = await _session.ExecuteAsync("query-migrate", null, ct).ConfigureAwait(false);
                var status = MigrationStatus.Parse(Json.Str(m, "status"));
                if (status.Name != last)
                {
                    last = status.Name;
                    Report(plan.Name, "Migration " + status, -1);
                }
                if (status == MigrationStatus.Colo) return true;
                if (status == MigrationStatus.Completed)
                {
                    throw new ColoException("ColoMigrationCompletedWithoutColo", ColoErrorKind.OperationFailed,
                            $"Migration from {plan.NodeName} ended 'completed' instead of entering COLO. The primary's QEMU cannot run COLO: " + QemuFeatures.BrokenPrimaryVersions + " have this defect.");
                }
                if (status == MigrationStatus.Failed || status == MigrationStatus.Cancelled)
                {
                    string error = m.TryGetProperty("error-desc", out var d) ? d.GetString() ?? string.Empty : string.Empty;
                    throw new ColoException("ColoMigrationFailed", ColoErrorKind.OperationFailed,
                        $"Migration from {plan.NodeName} ended '{status}' instead of entering COLO{(error.Length > 0 ? ": " + error : ".")}");
                }
                return false;
            }, ct).ConfigureAwait(false);

            if (_peer != null && _peer.State == QmpSessionState.Running)
            {
                await PollAsync(plan, "secondary in COLO mode", _timeouts.Migration - clock.Elapsed, async () =>
                {
                    var s = await _peer.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
                    return ColoMode.Parse(Json.Str(s, "mode")) == ColoMode.Secondary;
                }, ct).ConfigureAwait(false);
            }
            // The primary's own word too: its COLO thread sets mode primary once it runs.
            await PollAsync(plan, "primary in COLO mode", _timeouts.Migration - clock.Elapsed, async () =>
            {
                var s = await _session.ExecuteAsync("query-colo-status", null, ct).ConfigureAwait(false);
                return ColoMode.Parse(Json.Str(s, "mode")) == ColoMode.Primary;
            }, ct).ConfigureAwait(false);
            await PollAsync(plan, "primary running", _timeouts.Migration - clock.Elapsed, async () =>
            {
                var s = await _session.ExecuteAsync("query-status", null, ct).ConfigureAwait(false);
                return RunState.Parse(Json.Str(s, "status")) == RunState.Running;
            }, ct).ConfigureAwait(false);

            // The secondary dials the primary's mirror and compare sockets with a reconnect delay;
            // until both are connected, client packets would not reach the secondary.
            await PollAsync(plan, "secondary connected to the mirror and compare sockets", _timeouts.Migration - clock.Elapsed, async () =>
            {
                var chardevs = await _session.ExecuteAsync("query-chardev", null, ct).ConfigureAwait(false);
                return chardevs.EnumerateArray().Count(c =>
                    QemuCommandLine.Ids.PeerFacingChardevs(secondary: false).Contains(Json.Str(c, "label"))
                    && Json.Str(c, "filename") is string f && !f.StartsWith("disconnected", StringComparison.Ordinal)) == 2;
            }, ct).ConfigureAwait(false);
        }

        private async Task WaitForJobAsync(ColoPlan plan, string jobId, bool ready, TimeSpan timeout, CancellationToken ct)
        {
            await PollAsync(plan, ready ? $"block job {jobId} ready" : $"block job {jobId} gone", timeout, async () =>
            {
                var jobs = await _session.ExecuteAsync("query-block-jobs", null, ct).ConfigureAwait(false);
                var job = jobs.EnumerateArray().FirstOrDefault(j => Json.Str(j, "device") == jobId);
                if (job.ValueKind == JsonValueKind.Undefined)
                {
                    if (ready)
                    {
                        throw new ColoException("ColoDiskSyncFailed", ColoErrorKind.OperationFailed,
                            $"The disk copy job '{jobId}' on {plan.NodeName} ended before it was in sync; see the BLOCK_JOB_ERROR/BLOCK_JOB_COMPLETED events of the session.");
                    }
                    return true;
                }
                if (!ready) return false;
                long len = job.TryGetProperty("len", out var l) ? l.GetInt64() : 0;
                long offset = job.TryGetProperty("offset", out var o) ? o.GetInt64() : 0;
                int percent = len > 0 ? (int)Math.Min(100, offset * 100 / len) : -1;
                Report(plan.Name, string.Format(CultureInfo.InvariantCulture, "Disk sync {0} of {1} MiB", offset >> 20, len >> 20), percent);
                return job.TryGetProperty("ready", out var r) && r.ValueKind == JsonValueKind.True;
            }, ct).ConfigureAwait(false);
        }

        private async Task PollAsync(ColoPlan plan, string what, TimeSpan timeout, Func<Task<bool>> done, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (await done().ConfigureAwait(false)) return;
                if (clock.Elapsed > timeout)
                {
                    throw new ColoException("ColoWaitTimeout", ColoErrorKind.Timeout,
                        string.Format(CultureInfo.InvariantCulture, "{0} on {1}: no {2} within {3:0} s.", plan.Name, plan.NodeName, what, timeout.TotalSeconds));
                }
                await Task.Delay(_timeouts.Poll, ct).ConfigureAwait(false);
            }
        }

        private void Report(string activity, string status, int percent, bool completed = false)
            => _progress?.Invoke(new ColoProgress(activity, status, percent, completed));
    }
}
