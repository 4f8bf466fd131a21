using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json.Nodes;
using ColoPS.Qemu;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo
{
    /// <summary>
    /// The procedure's QMP sequences, in one place, as data. Execution and -WhatIf both read these;
    /// unit tests compare them with the procedure's JSON. Addresses and ports come from the
    /// configuration, so every listener binds the serving site's own address.
    /// </summary>
    public static partial class ColoPlans
    {
        public const string MirrorJob = "resync";

        /// <summary>Procedure step 3: the secondary accepts COLO and exports its parent disk.</summary>
        public static ColoPlan SecondaryPrepare(ColoConfig config, ColoSite site, QemuFeatures features)
        {
            var self = config.GetSite(site);
            var steps = new List<ColoStep> { EnableColo(features) };
            var nbd = new JsonObject { ["addr"] = Inet(self.Address, config.Ports.Nbd) };
            if (config.Tls != null)
            {
                // Before the primary connects: the incoming side reads these when it accepts.
                steps.Add(ColoStep.Qmp("migrate-set-parameters", new JsonObject { ["tls-creds"] = Ids.TlsServer, ["tls-authz"] = Ids.TlsAuthz },
                    "Accept the checkpoint stream only over TLS, from the peer's client certificate"));
                // The QEMU started with -incoming defer: its migration port opens only now.
                steps.Add(ColoStep.Qmp("migrate-incoming", new JsonObject { ["uri"] = QemuCommandLine.IncomingUri(config, site) },
                    "Open the migration port for the checkpoint stream, TLS already required"));
                nbd["tls-creds"] = Ids.TlsServer;
                nbd["tls-authz"] = Ids.TlsAuthz;
            }
            steps.Add(ColoStep.Qmp("nbd-server-start", nbd, config.Tls != null
                ? "Serve the parent disk over NBD with TLS on this site's address" : "Serve the parent disk over NBD on this site's address"));
            steps.Add(ColoStep.Qmp("nbd-server-add", new JsonObject { ["device"] = Ids.Parent, ["writable"] = true }, "Export the parent disk for replication writes"));
            return new ColoPlan("Prepare secondary", config.Name + "-" + site, steps);
        }

        /// <summary>Procedure step 4 (and 5): the primary replicates its disk to the secondary and starts COLO.</summary>
        public static ColoPlan PrimaryProtect(ColoConfig config, ColoSite primarySite, QemuFeatures features)
        {
            var steps = new List<ColoStep>();
            steps.AddRange(AttachReplication(config, ColoConfig.Other(primarySite)));
            steps.AddRange(StartColo(config, primarySite, features));
            return new ColoPlan("Start primary", config.Name + "-" + primarySite, steps);
        }

        /// <summary>"Secondary Failover": the primary died; the secondary takes over and gets the primary's chardevs.</summary>
        public static ColoPlan SecondaryFailover(ColoConfig config, ColoSite survivor, IReadOnlyList<JsonObject> yankInstances)
            => FailoverRemainder(config, survivor, FailoverLeftOver.FullSecondary, yankInstances);

        /// <summary>"Primary Failover": the secondary died; the primary drops replication and runs alone.</summary>
        /// <param name="replicationChild">The quorum child name of replication0 as QEMU reports it now (not assumed to be children.1).</param>
        public static ColoPlan PrimaryFailover(ColoConfig config, ColoSite survivor, string replicationChild, IReadOnlyList<JsonObject> yankInstances)
            => FailoverRemainder(config, survivor, FailoverLeftOver.FullPrimary(replicationChild), yankInstances);

        /// <summary>
        /// "Primary/Secondary resume replication": full disk sync to the new secondary, then
        /// replication, filters and COLO again. Filters go before rew0 when the survivor has it
        /// (it was a secondary once), so packets pass the rewriter last.
        /// </summary>
        /// <param name="staleSockets">The survivor's mirror and compare chardevs that hold a connection that is not the new secondary's (StalePeerSockets).</param>
        public static ColoPlan Resume(ColoConfig config, ColoSite survivor, bool insertBeforeRewriter, QemuFeatures features, IReadOnlyCollection<string>? staleSockets = null)
        {
            var secondary = config.GetSite(ColoConfig.Other(survivor));
            var steps = new List<ColoStep>();
            // A peer that connected to the survivor's mirror or compare socket and left leaves QEMU
            // holding the dead connection: with no filter on the chardev nothing reads it, QEMU
            // never sees the close, and the new secondary waits in the listen backlog. Those get
            // fresh listeners; then the new secondary must be on both before anything else.
            steps.AddRange(RenewPeerSockets(config, survivor, staleSockets ?? System.Array.Empty<string>()));
            steps.Add(ColoStep.Wait(ColoStepKind.WaitForPeerChardevs, "Wait until the new secondary has connected to the mirror and compare sockets"));
            steps.AddRange(new[]
            {
                ColoStep.Qmp("drive-mirror", new JsonObject
                {
                    ["device"] = Ids.Disk,
                    ["job-id"] = MirrorJob,
                    ["target"] = QemuTls.MirrorTarget(config, secondary),
                    ["mode"] = "existing",
                    ["format"] = "raw",
                    ["sync"] = "full",
                }, "Copy the whole disk to the new secondary"),
                ColoStep.Wait(ColoStepKind.WaitForJobReady, "Wait until the disk copy is in sync", MirrorJob),
                ColoStep.Qmp("stop", null, "Pause the VM for the switch to replication"),
                ColoStep.Qmp("block-job-cancel", new JsonObject { ["device"] = MirrorJob }, "End the disk copy (in sync, so nothing is lost)"),
                ColoStep.Wait(ColoStepKind.WaitForJobGone, "Wait until the copy job is gone", MirrorJob),
            });
            steps.AddRange(AttachReplication(config, ColoConfig.Other(survivor)));
            // The survivor's VM ran with the compare loops unread (a primary failover deletes
            // colo-compare before the redirector feeding it; a failed migration runs the VM again
            // with the filters standing): bytes left in them would reach the new colo-compare as
            // the primary's fresh output and force a checkpoint. Nothing writes to them before the
            // filters below, so fresh sockets here start it on empty ones, whatever came before.
            steps.AddRange(RenewCompareLoops(config, survivor));
            JsonObject Filter(string type, string id, string key, string value)
            {
                var o = new JsonObject { ["qom-type"] = type, ["id"] = id };
                if (insertBeforeRewriter)
                {
                    o["insert"] = "before";
                    o["position"] = "id=" + Ids.Rewriter;
                }
                o["netdev"] = Ids.Netdev;
                o["queue"] = type == "filter-mirror" ? "tx" : "rx";
                o[key] = value;
                return o;
            }
            steps.Add(ColoStep.Qmp("object-add", Filter("filter-mirror", Ids.FilterMirror, "outdev", Ids.Mirror), "Mirror client packets to the secondary"));
            steps.Add(ColoStep.Qmp("object-add", Filter("filter-redirector", Ids.RedirectorIn, "indev", Ids.CompareOut), "Take compared packets back into the NIC"));
            steps.Add(ColoStep.Qmp("object-add", Filter("filter-redirector", Ids.RedirectorOut, "outdev", Ids.CompareIn), "Send the primary's packets to colo-compare"));
            steps.Add(ColoStep.Qmp("object-add", new JsonObject { ["qom-type"] = "iothread", ["id"] = Ids.IoThread }, "colo-compare's I/O thread"));
            steps.Add(ColoStep.Qmp("object-add", CompareObject(config), "Compare the two sides' packets"));
            steps.AddRange(StartColo(config, survivor, features));
            return new ColoPlan("Resume replication", config.Name + "-" + survivor, steps);
        }

        /// <summary>
        /// Undoes a resume that failed part-way, so the survivor runs alone as before it: the
        /// filters would otherwise hold every client packet for colo-compare's timeout, and the
        /// replication child would keep a link to a secondary that is gone. Only what the resume
        /// had added (given as present here) is removed. Chardevs missing (a resume that failed while
        /// renewing them) are made again, so the next resume finds them.
        /// </summary>
        public static ColoPlan ResumeRollback(ColoConfig config, ColoSite survivor, bool mirrorJobPresent, string? replicationChild, IReadOnlyCollection<string> presentObjects, IReadOnlyCollection<string> presentChardevs, IReadOnlyList<JsonObject> yankInstances, bool paused)
            => Rollback("Roll back resume", config, survivor, mirrorJobPresent, replicationChild,
                PrimaryObjects.Where(presentObjects.Contains),
                PeerSockets(config, survivor).Concat(CompareLoops(config, survivor)).Where(step => !presentChardevs.Contains((string)step.Arguments!["id"]!)),
                yankInstances, paused);

        /// <summary>
        /// Undoes a failed Start-ColoPrimary on a QEMU the caller started (-Session): the replication
        /// link to the secondary goes and the VM runs alone. Its filters and colo-compare came with its
        /// own command line and stay for the next attempt.
        /// </summary>
        public static ColoPlan StartRollback(ColoConfig config, ColoSite primarySite, string? replicationChild, IReadOnlyList<JsonObject> yankInstances, bool paused)
            => Rollback("Roll back start", config, primarySite, false, replicationChild, Enumerable.Empty<string>(), Enumerable.Empty<ColoStep>(), yankInstances, paused);

        // Both roll-backs: cut the link to the secondary, take away what was added, run alone.
        private static ColoPlan Rollback(string name, ColoConfig config, ColoSite site, bool mirrorJobPresent, string? replicationChild,
            IEnumerable<string> objectsToDelete, IEnumerable<ColoStep> chardevsToAdd, IReadOnlyList<JsonObject> yankInstances, bool paused)
        {
            var steps = new List<ColoStep>();
            if (yankInstances.Count > 0) steps.Add(Yank(yankInstances));
            if (mirrorJobPresent) steps.Add(ColoStep.Qmp("block-job-cancel", new JsonObject { ["device"] = MirrorJob, ["force"] = true }, "Abandon the disk copy"));
            if (replicationChild != null) steps.AddRange(DetachReplication(replicationChild));
            steps.AddRange(objectsToDelete.Select(ObjectDel));
            steps.AddRange(chardevsToAdd);
            steps.Add(ColoStep.Qmp("migrate-set-capabilities", new JsonObject
            {
                ["capabilities"] = new JsonArray(new JsonObject { ["capability"] = "x-colo", ["state"] = false }),
            }, "Disable the x-colo migration capability"));
            if (paused) steps.Add(ColoStep.Qmp("cont", null, "Run the VM again"));
            return new ColoPlan(name, config.Name + "-" + site, steps);
        }

        // The primary's COLO objects, in the order they can be deleted (colo-compare before its
        // iothread, then the filters).
        private static readonly string[] PrimaryObjects = { Ids.CompareObject, Ids.IoThread, Ids.FilterMirror, Ids.RedirectorIn, Ids.RedirectorOut };

        /// <summary>The primary's two socket loops through colo-compare (its input and its output), on the site's loopback address (ColoSiteConfig.LoopAddress).</summary>
        private static IEnumerable<ColoStep> CompareLoops(ColoConfig config, ColoSite site)
        {
            var self = config.GetSite(site);
            var p = config.Ports;
            yield return ChardevAdd(Ids.CompareIn, self.LoopAddress(), p.CompareIn, server: true);
            yield return ChardevAdd(Ids.CompareInClient, self.LoopAddress(), p.CompareIn, server: false);
            yield return ChardevAdd(Ids.CompareOut, self.LoopAddress(), p.CompareOut, server: true);
            yield return ChardevAdd(Ids.CompareOutClient, self.LoopAddress(), p.CompareOut, server: false);
        }

        /// <summary>The mirror and compare sockets the secondary connects to, on the site's address.</summary>
        internal static IEnumerable<ColoStep> PeerSockets(ColoConfig config, ColoSite site)
        {
            var self = config.GetSite(site);
            yield return ChardevAdd(Ids.Mirror, self.Address, config.Ports.Mirror, server: true, peerFacing: config);
            yield return ChardevAdd(Ids.Compare, self.Address, config.Ports.Compare, server: true, peerFacing: config);
        }

        private static IEnumerable<ColoStep> RenewPeerSockets(ColoConfig config, ColoSite site, IReadOnlyCollection<string> stale)
        {
            foreach (var id in Ids.PeerFacingChardevs(secondary: false).Where(stale.Contains))
                yield return ColoStep.Qmp("chardev-remove", new JsonObject { ["id"] = id }, "Close " + id + " and the connection a peer left on it");
            foreach (var step in PeerSockets(config, site).Where(step => stale.Contains((string)step.Arguments!["id"]!))) yield return step;
        }

        private static IEnumerable<ColoStep> RenewCompareLoops(ColoConfig config, ColoSite site)
        {
            foreach (var id in new[] { Ids.CompareInClient, Ids.CompareIn, Ids.CompareOutClient, Ids.CompareOut })
                yield return ColoStep.Qmp("chardev-remove", new JsonObject { ["id"] = id }, "Drop " + id + " and whatever it still buffers");
            foreach (var step in CompareLoops(config, site)) yield return step;
        }

        private static IEnumerable<ColoStep> DetachReplication(string replicationChild)
        {
            yield return DetachReplicationChild(replicationChild);
            yield return DeleteReplicationNode();
        }

        private static ColoStep DetachReplicationChild(string replicationChild) =>
            ColoStep.Qmp("x-blockdev-change", new JsonObject { ["parent"] = Ids.Disk, ["child"] = replicationChild }, "Detach the replication child from the quorum");

        // The procedure's HMP drive_del prints a failed flush to the dead secondary as its answer on
        // QEMU 11 (the node is gone all the same); blockdev-del deletes the same monitor-owned node
        // and reports only what stops it.
        private static ColoStep DeleteReplicationNode() =>
            ColoStep.Qmp("blockdev-del", new JsonObject { ["node-name"] = Ids.ReplicationNode }, "Delete the replication node");

        private static IEnumerable<ColoStep> AttachReplication(ColoConfig config, ColoSite secondarySite)
        {
            var secondary = config.GetSite(secondarySite);
            yield return ColoStep.Hmp(string.Format(CultureInfo.InvariantCulture,
                "drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,file.host={0},file.port={1},file.export={2}{3},node-name={4}",
                secondary.Address, config.Ports.Nbd, Ids.NbdExport, QemuTls.NbdClientOption(config), Ids.ReplicationNode), "Open the secondary's disk over NBD as a replication node");
            yield return ColoStep.Qmp("x-blockdev-change", new JsonObject { ["parent"] = Ids.Disk, ["node"] = Ids.ReplicationNode }, "Add it to the quorum so writes go to both sides");
        }

        private static IEnumerable<ColoStep> StartColo(ColoConfig config, ColoSite primarySite, QemuFeatures features)
        {
            var secondary = config.GetSite(ColoConfig.Other(primarySite));
            yield return EnableColo(features);
            if (config.Tuning.CheckpointIntervalMs.HasValue)
            {
                yield return ColoStep.Qmp("migrate-set-parameters", new JsonObject { ["x-checkpoint-delay"] = config.Tuning.CheckpointIntervalMs.Value }, "Set the idle checkpoint period");
            }
            if (config.Tls != null)
            {
                // Set at every start: a node that was a secondary still holds the server side's values.
                yield return ColoStep.Qmp("migrate-set-parameters", new JsonObject { ["tls-creds"] = Ids.TlsClient, ["tls-hostname"] = secondary.Address },
                    "Send the checkpoint stream over TLS, checking the secondary's certificate for " + secondary.Address);
            }
            yield return ColoStep.Qmp("migrate", new JsonObject
            {
                ["uri"] = string.Format(CultureInfo.InvariantCulture, "tcp:{0}:{1}", QemuCommandLine.Host(secondary.Address), config.Ports.Migration),
            }, "Send the VM to the secondary and enter COLO");
            yield return ColoStep.Wait(ColoStepKind.WaitForColo, "Wait until both sides are in COLO");
        }

        private static ColoStep EnableColo(QemuFeatures features)
        {
            var capabilities = new JsonArray();
            if (features.ColoNeedsReturnPath) capabilities.Add(new JsonObject { ["capability"] = "return-path", ["state"] = true });
            capabilities.Add(new JsonObject { ["capability"] = "x-colo", ["state"] = true });
            return ColoStep.Qmp("migrate-set-capabilities", new JsonObject { ["capabilities"] = capabilities },
                features.ColoNeedsReturnPath ? "Enable the return-path and x-colo migration capabilities (" + features + " needs both)" : "Enable the x-colo migration capability");
        }

        private static ColoStep ObjectDel(string id) => ColoStep.Qmp("object-del", new JsonObject { ["id"] = id }, "Remove " + id);

        private static ColoStep Yank(IReadOnlyList<JsonObject> instances)
        {
            var array = new JsonArray();
            foreach (var i in instances) array.Add(i.DeepClone());
            return ColoStep.Oob("yank", new JsonObject { ["instances"] = array }, "Cut the dead peer's connections out of band so nothing waits on them");
        }

        /// <param name="peerFacing">The configuration, for a socket the peer connects to (it gets the TLS members); null for a socket internal to this host.</param>
        private static ColoStep ChardevAdd(string id, string address, int port, bool server, ColoConfig? peerFacing = null)
        {
            var data = new JsonObject { ["addr"] = Inet(address, port), ["server"] = server };
            if (peerFacing != null) QemuTls.AddServer(peerFacing, data);
            // A listening chardev created over QMP would otherwise block until a client connects.
            if (server) data["wait"] = false;
            return ColoStep.Qmp("chardev-add", new JsonObject
            {
                ["id"] = id,
                ["backend"] = new JsonObject { ["type"] = "socket", ["data"] = data },
            }, (server ? "Listen" : "Connect") + " " + id + " on " + address + ":" + port.ToString(CultureInfo.InvariantCulture));
        }

        private static JsonObject Inet(string host, int port) => new JsonObject
        {
            ["type"] = "inet",
            ["data"] = new JsonObject { ["host"] = host, ["port"] = port.ToString(CultureInfo.InvariantCulture) },
        };

        private static JsonObject CompareObject(ColoConfig config)
        {
            var o = new JsonObject
            {
                ["qom-type"] = "colo-compare",
                ["id"] = Ids.CompareObject,
                ["primary_in"] = Ids.CompareInClient,
                ["secondary_in"] = Ids.Compare,
                ["outdev"] = Ids.CompareOutClient,
                ["iothread"] = Ids.IoThread,
            };
            var t = config.Tuning;
            if (t.CompareTimeoutMs.HasValue) o["compare_timeout"] = t.CompareTimeoutMs.Value;
            if (t.ExpiredScanCycleMs.HasValue) o["expired_scan_cycle"] = t.ExpiredScanCycleMs.Value;
            if (t.MaxQueueSize.HasValue) o["max_queue_size"] = t.MaxQueueSize.Value;
            return o;
        }
    }
}
