using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;
using ColoPS.Colo.Host;
using ColoPS.Witness;

namespace ColoPS.Guard
{
    /// <summary>
    /// One site's guard: each tick it looks at its own QEMU, the peer and the witness, lets
    /// <see cref="GuardModel"/> decide and runs the actions. The model keeps no state; what this
    /// class keeps (the lease, the epochs of its QEMU, the fencing outcome) is what the model's
    /// inputs are made of. Cancelling the token stops the loop and leaves the VM as it is.
    /// </summary>
    public sealed class ColoGuard : IAsyncDisposable
    {
        /// <summary>Much shorter than the fence margin (500 ms by default), which the AboutToExpire rule needs.</summary>
        public static readonly TimeSpan DefaultTick = TimeSpan.FromMilliseconds(200);

        private readonly ColoHost _host;
        private readonly EtcdClient _etcd;
        private readonly GuardJournal _journal;
        private readonly Action<GuardRecord>? _onDecision;
        private readonly GuardActionRunner _actions;
        private readonly PeerWatch _peer;
        private readonly GuardHeartbeat? _heartbeat;
        private readonly SemaphoreSlim _wake = new(0);
        private string? _lastKey;
        // The QEMU and epoch this side gave its lease up for: a new QEMU here, or a new epoch naming it, may hold one again.
        private (int? Pid, long Epoch)? _leaseGivenUpFor;
        private GuardRecord? _last;
        private readonly object _recordGate = new();
        private long _inheritedLease;

        public ColoGuard(ColoConfig config, ColoSite site, string? logPath, Action<GuardRecord>? onDecision, ColoHost? host = null)
        {
            ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.None);
            var w = config.Witness ?? throw new ColoException("ColoGuardNoWitness", ColoErrorKind.InvalidConfiguration,
                $"The configuration '{config.Name}' has no Witness section; create it with New-ColoConfig -WitnessEndpoint.");
            Config = config;
            Site = site;
            _host = host ?? ColoHost.Default;
            CallTimeout = TimeSpan.FromMilliseconds(w.CallTimeoutMs);
            _etcd = new EtcdClient(new EtcdClientOptions(w.Endpoints.Select(e => new Uri(e))) { CallTimeout = CallTimeout, AttemptTimeout = TimeSpan.FromMilliseconds(Math.Min(700, w.CallTimeoutMs)) });
            Witness = new PairWitness(_etcd, w.PairName(config), w.Prefix);
            Own = new OwnQemuWatch(_host, config, site, TimeSpan.FromSeconds(1), Wake);
            // A port already taken is a typed error; the etcd client made above must not outlive it.
            try { _heartbeat = GuardHeartbeat.Start(config, site, _host.Clock); }
            catch (ColoException) { _etcd.Dispose(); throw; }
            _peer = new PeerWatch(_host, config, site, _heartbeat);
            _actions = new GuardActionRunner(this, _host);
            _onDecision = onDecision;
            StatePath = StatePathOf(config, site);
            _journal = new GuardJournal(StatePath, logPath);
            // A guard restarted next to the same QEMU takes up the epochs it knew; a new QEMU starts from none.
            var before = GuardJournal.ReadState(StatePath);
            if (before?.Epochs != null) Epochs = before.Epochs;
            if (before != null) _inheritedLease = before.LeaseId;
        }

        public static string StatePathOf(ColoConfig config, ColoSite site) => System.IO.Path.Combine(config.GetSite(site).WorkDirectory, config.Name + ".guard.json");

        public ColoConfig Config { get; }
        public ColoSite Site { get; }
        public string SiteName => Site.ToString();
        public string PairName => Witness.Pair;
        public string StatePath { get; }
        public TimeSpan Tick { get; init; } = DefaultTick;
        internal TimeSpan CallTimeout { get; }
        /// <summary>
        /// How recent a checkpoint shows the pair's COLO stream alive: one idle checkpoint period
        /// (QEMU's 200 ms default when not configured) and a second for the checkpoint itself.
        /// </summary>
        internal TimeSpan CheckpointFreshness => TimeSpan.FromMilliseconds((Config.Tuning?.CheckpointIntervalMs ?? 200) + 1000);
        internal PairWitness Witness { get; }
        internal OwnQemuWatch Own { get; }
        internal WitnessLease? Lease { get; private set; }
        internal GuardEpochs Epochs { get; private set; } = new();
        internal FenceHookResult Fence { get; set; }
        /// <summary>The last claim lost; the model hears ClaimConflict once, then reads the witness again.</summary>
        internal bool ClaimLost { get; set; }
        /// <summary>Config Witness.Reprotect: this guard starts secondaries and resumes replication by itself.</summary>
        public bool Reprotect => Config.Witness!.Reprotect;
        /// <summary>The ready key's revision whose resume failed: that secondary is not tried again.</summary>
        internal long FailedReadyRevision { get; set; }
        /// <summary>After a failed start of a secondary, the next waits (1 s, doubling to 60 s): a start that fails fails again at once.</summary>
        internal (DateTimeOffset NotBefore, TimeSpan Backoff) StartSecondaryRetry { get; set; } = (DateTimeOffset.MinValue, TimeSpan.Zero);

        internal void Wake()
        {
            // A session that ends while the guard is disposed has nobody left to wake.
            try { _wake.Release(); } catch (ObjectDisposedException) { }
        }

        /// <summary>The last tick's input and own QEMU, for the fence watchdog.</summary>
        internal GuardInput? LastInput { get; private set; }
        internal int? LastOwnPid { get; private set; }

        public async Task RunAsync(CancellationToken ct)
        {
            long revision = 0;
            using var watchdogStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var watchdog = new FenceWatchdog(this, _host, _peer).RunAsync(watchdogStop.Token);
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    revision = await TickAsync(ct).ConfigureAwait(false) ?? revision;
                    await WaitAsync(revision, ct).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            finally
            {
                watchdogStop.Cancel();
                await watchdog.ConfigureAwait(false);
            }
            await StopAsync().ConfigureAwait(false);
        }

        // Until the next tick, or sooner: a change under the pair's prefix (a lease expiring shows as a delete) or an action's outcome.
        private async Task WaitAsync(long revision, CancellationToken ct)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var wake = _wake.WaitAsync(Tick, cts.Token);
            Task watch = revision > 0 ? Witness.WaitForChangeAsync(revision, Tick, cts.Token) : Task.Delay(Tick, cts.Token);
            await Task.WhenAny(wake, watch).ConfigureAwait(false);
            cts.Cancel();
            try { await Task.WhenAll(wake, watch).ConfigureAwait(false); } catch (Exception) when (!ct.IsCancellationRequested) { }
            ct.ThrowIfCancellationRequested();
        }

        private async Task<long?> TickAsync(CancellationToken ct)
        {
            var own = await Own.ReadAsync(ct).ConfigureAwait(false);
            _heartbeat?.Report(own.Own);
            PairState? state = null;
            string witnessWords;
            try
            {
                state = await Witness.ReadAsync(CallTimeout, ct).ConfigureAwait(false);
                witnessWords = state.ToString();
            }
            catch (WitnessException e) { witnessWords = $"witness: {e.Kind}: {e.Message}"; }
            string peerSite = ColoConfig.Other(Site).ToString();
            // Whether the peer is the fresh secondary announced there is an observation; what it means to this role, the model decides.
            int? announced = state?.Ready?.Site == peerSite ? state.Ready.QemuProcessId : null;
            var (peer, fresh, peerWords) = _peer.Read(announced);
            Epochs.Observe(SiteName, own.Own, own.ProcessId, state, own.AwaitsMigration);
            var outcomes = new System.Collections.Generic.List<string>();
            if (state != null && Reprotect) outcomes.AddRange(await AnnounceWaitingAsync(own, state, ct).ConfigureAwait(false));
            await EnsureLeaseAsync(own, state, ct).ConfigureAwait(false);

            var answer = state == null ? WitnessAnswer.Unreachable
                : ClaimLost ? WitnessAnswer.ClaimConflict
                : GuardModel.Answer(SiteName, Epochs.ProtectedEpoch, state);
            ClaimLost = false;
            var standing = state == null ? EpochStanding.Current : GuardModel.Standing(SiteName, Epochs.MyEpoch, state);
            bool ready = state != null && Reprotect && own.Own == OwnObservation.StandaloneRunning
                && ReprotectSignals.NewSecondaryReady(SiteName, peerSite, state, named: answer == WitnessAnswer.ClaimSucceeded, FailedReadyRevision);
            // Wanted here: no QEMU runs; or the one that runs is a waiting secondary an epoch named and
            // the owner then left behind (no secondary named now; one never named is announced again
            // instead); or a secondary that received the VM and was then left behind by a failover.
            bool waitingLeftBehind = own.AwaitsMigration && Epochs.JoinEpoch != null && standing == EpochStanding.Stale && state?.Record?.Secondary == null;
            bool leftBehind = standing == EpochStanding.Stale && own.Role == GuardRole.Secondary && !own.AwaitsMigration
                && own.Own is OwnObservation.ProtectedSecondary or OwnObservation.ColoExitError;
            bool wanted = state != null && Reprotect && (own.Own == OwnObservation.QemuDead || waitingLeftBehind || leftBehind) && ReprotectSignals.SecondaryWanted(SiteName, state)
                && _host.Clock.GetUtcNow() >= StartSecondaryRetry.NotBefore;
            bool flows = own.Own is OwnObservation.ProtectedPrimary or OwnObservation.ProtectedSecondary && own.LastCheckpointAt is { } at
                && _host.Clock.GetLocalNow() - at <= CheckpointFreshness;
            var input = new GuardInput(own.Role, own.Own, peer, answer, Lease?.State ?? LeaseRenewal.None, standing, Fence, ready, wanted, fresh, own.AwaitsMigration, flows);
            var decision = GuardModel.Decide(input);
            LastInput = input;
            LastOwnPid = own.ProcessId;
            var tick = new GuardTick(input, own, state);
            foreach (var action in decision.Actions)
            {
                try { outcomes.Add(await _actions.RunAsync(action, tick, ct).ConfigureAwait(false)); }
                catch (Exception e) when (e is ColoException || e is WitnessException || e is Qmp.QmpException)
                {
                    // The next tick looks again; a half-done action is what it will observe.
                    outcomes.Add($"{action} failed: {e.Message}");
                    break;
                }
            }
            Record(input, decision, outcomes, $"own: {own.Detail}; peer: {peerWords}; {witnessWords}; lease: {LeaseWords()}", state);
            return state?.Revision;
        }

        private async Task EnsureLeaseAsync(OwnReading own, PairState? state, CancellationToken ct)
        {
            if (Lease != null && Lease.IsLost) { await Lease.DisposeAsync().ConfigureAwait(false); Lease = null; }
            // No lease for a side with nothing to guard or one that gave it up: granting and releasing on every tick helps nobody.
            if (Lease != null || state == null || _leaseGivenUpFor == (Epochs.QemuProcessId, Epochs.MyEpoch) || own.Own == OwnObservation.QemuDead) return;
            try
            {
                long inherited = _inheritedLease;
                _inheritedLease = 0;
                if (inherited != 0)
                {
                    // A guard killed and restarted within the TTL: the owner key may hang on this lease.
                    Lease = await WitnessLease.ResumeAsync(_etcd, inherited, TimeSpan.FromSeconds(Config.Witness!.LeaseTtlSeconds), Config.Witness.FenceMargin, _host.Clock, ct).ConfigureAwait(false);
                    if (Lease != null) { Lease.StartKeepAlive(); return; }
                }
                Lease = await WitnessLease.GrantAsync(_etcd, TimeSpan.FromSeconds(Config.Witness!.LeaseTtlSeconds), Config.Witness.FenceMargin, _host.Clock, ct).ConfigureAwait(false);
                Lease.StartKeepAlive();
            }
            catch (WitnessException) { /* the model hears lease None and does not claim */ }
        }

        // Not a model decision: a witness write that names no roles and sends nothing; the survivor's claim decides.
        private async Task<string[]> AnnounceWaitingAsync(OwnReading own, PairState state, CancellationToken ct)
        {
            if (!own.AwaitsMigration || own.ProcessId == null || Epochs.JoinEpoch != null) return Array.Empty<string>();
            if (!ReprotectSignals.AnnounceWaitingSecondary(SiteName, own.ProcessId.Value, state)) return Array.Empty<string>();
            try
            {
                await Witness.AnnounceSecondaryAsync(SiteName, state.Epoch, own.ProcessId.Value, CallTimeout, ct).ConfigureAwait(false);
                return new[] { $"announced the waiting secondary QEMU {own.ProcessId} for epoch {state.Epoch} (owner {state.LiveOwner})" };
            }
            catch (WitnessException e) { return new[] { "announcing the waiting secondary failed: " + e.Message }; }
        }

        internal async Task<string> ReleaseLeaseAsync(CancellationToken ct)
        {
            var lease = Lease;
            if (lease == null) return "no lease held";
            _leaseGivenUpFor = (Epochs.QemuProcessId, Epochs.MyEpoch);
            try { return await lease.ReleaseAsync(CallTimeout, ct).ConfigureAwait(false) ? "lease released" : "lease was already gone"; }
            catch (WitnessException e) { return "lease release did not reach the witness (it expires by itself): " + e.Message; }
            finally { Lease = null; await lease.DisposeAsync().ConfigureAwait(false); }
        }

        private string LeaseWords() => Lease == null ? "none" : $"{Lease.Id:x} {Lease.State}, {Lease.Timer.Remaining.TotalMilliseconds:0} ms left";

        /// <summary>A decision of the fence watchdog, stamped with when it was taken (its kill may take a while to be seen done).</summary>
        internal void RecordUrgent(GuardInput input, GuardDecision decision, string outcome, string detail, DateTimeOffset decidedAt) =>
            Record(input, decision, new[] { outcome }, detail, null, time: decidedAt);

        private void Record(GuardInput input, GuardDecision decision, System.Collections.Generic.IReadOnlyList<string> outcomes, string detail, PairState? state, bool running = true, DateTimeOffset? time = null)
        {
            lock (_recordGate) RecordLocked(input, decision, outcomes, detail, state, running, time ?? _host.Clock.GetLocalNow());
        }

        private void RecordLocked(GuardInput input, GuardDecision decision, System.Collections.Generic.IReadOnlyList<string> outcomes, string detail, PairState? state, bool running, DateTimeOffset time)
        {
            var record = new GuardRecord
            {
                Time = time, Pair = PairName, Site = SiteName, GuardProcessId = Environment.ProcessId, QemuProcessId = Epochs.QemuProcessId,
                Input = input.ToString(), Own = input.Own.ToString(), Peer = input.Peer.ToString(), Witness = input.Witness.ToString(),
                Lease = input.Lease.ToString(), Standing = input.Epoch.ToString(), Actions = decision.Actions.Select(a => a.ToString()).ToArray(),
                Reason = decision.Reason, Outcomes = outcomes, Detail = detail, MyEpoch = Epochs.MyEpoch, WitnessEpoch = state?.Epoch ?? 0,
                Warning = input.Witness == WitnessAnswer.Unreachable || input.Fence == FenceHookResult.Failed || input.Epoch == EpochStanding.Stale,
            };
            _last = record;
            _journal.WriteState(new GuardState { Last = record, UpdatedAt = record.Time, Running = running, Epochs = Epochs, LeaseId = Lease?.Id ?? 0 });
            // A waiting guard decides the same every tick: only a change is a new decision worth a line.
            string key = input + "|" + decision;
            if (key == _lastKey && decision.DoesNothing && outcomes.Count == 0 && running) return;
            _lastKey = key;
            _journal.Append(record);
            _onDecision?.Invoke(record);
        }

        // Ctrl+C: the VM stays as it is. The lease goes at once only where that cannot let the peer
        // start a second copy; otherwise it runs out by itself after the TTL, as after a crash.
        private async Task StopAsync()
        {
            string outcome = "guard stopped; the VM is left as it is";
            long kept = 0;
            bool mayOutput = _last != null && (_last.Own is nameof(OwnObservation.ProtectedPrimary) or nameof(OwnObservation.StandaloneRunning) or nameof(OwnObservation.Frozen) or nameof(OwnObservation.ColoExitError));
            if (Lease != null)
            {
                if (!mayOutput) outcome += "; " + await ReleaseLeaseAsync(CancellationToken.None).ConfigureAwait(false);
                else { outcome += "; the lease is kept until it runs out (this side may send output)"; kept = Lease.Id; await Lease.DisposeAsync().ConfigureAwait(false); Lease = null; }
            }
            var stopRecord = (_last ?? new GuardRecord { Site = SiteName, Pair = PairName }) with
            {
                Time = _host.Clock.GetLocalNow(), Actions = Array.Empty<string>(), Reason = "the guard was stopped", Outcomes = new[] { outcome }, Warning = true,
            };
            _journal.WriteState(new GuardState { Last = stopRecord, UpdatedAt = stopRecord.Time, Running = false, Epochs = Epochs, LeaseId = kept });
            _journal.Append(stopRecord);
            _onDecision?.Invoke(stopRecord);
            Own.Drop();
        }

        public async ValueTask DisposeAsync()
        {
            if (_heartbeat != null) await _heartbeat.DisposeAsync().ConfigureAwait(false);
            if (Lease != null) await Lease.DisposeAsync().ConfigureAwait(false);
            Own.Drop();
            _journal.Dispose();
            _etcd.Dispose();
            _wake.Dispose();
        }
    }
}
