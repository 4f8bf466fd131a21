using System;
using System.Text.Json.Serialization;

namespace ColoPS.Colo
{
    /// <summary>The two places a COLO pair runs in. Roles move between them; sites do not.</summary>
    public enum ColoSite { A, B }

    public enum ColoAccelerator
    {
        /// <summary>KVM only when /dev/kvm opens and the CPU shows vmx or svm; TCG otherwise.</summary>
        Auto,
        Kvm,
        Tcg,
    }

    /// <summary>
    /// Everything needed to run one protected VM on two sites: the VM, each site's address and
    /// folders, the TCP ports COLO uses, the QEMU binary and COLO tuning. Saved as JSON.
    /// </summary>
    public sealed class ColoConfig
    {
        public const int CurrentSchemaVersion = 1;

        public int SchemaVersion { get; set; } = CurrentSchemaVersion;

        /// <summary>The VM's name; also names files and QEMU's -name. Letters, digits, '-', '_', '.'.</summary>
        public string Name { get; set; } = string.Empty;

        public ColoVmConfig Vm { get; set; } = new ColoVmConfig();
        public ColoSiteConfig SiteA { get; set; } = new ColoSiteConfig();
        public ColoSiteConfig SiteB { get; set; } = new ColoSiteConfig();
        public ColoPortConfig Ports { get; set; } = new ColoPortConfig();
        public ColoQemuConfig Qemu { get; set; } = new ColoQemuConfig();
        public ColoTuningConfig Tuning { get; set; } = new ColoTuningConfig();

        /// <summary>TLS on every link between the sites; null runs them in clear (a trusted, private network).</summary>
        public ColoTlsConfig? Tls { get; set; }

        // --- guard (issue 10): kept as one block at the end of the members so other sections merge cleanly ---

        /// <summary>The etcd witness the guards of both sites share; null when the pair runs without guards.</summary>
        public ColoWitnessConfig? Witness { get; set; }

        /// <summary>
        /// A command line a guard runs before it takes over from a peer it cannot see (ssh poweroff,
        /// IPMI, a switch port). Run by /bin/sh with COLOPS_PAIR, COLOPS_SITE and COLOPS_PEER set;
        /// exit 0 within FencingHookTimeoutSeconds means the peer is fenced. Null: the peer's lease
        /// expiry is the only fence (its guard stops the VM before the lease can expire).
        /// </summary>
        public string? FencingHook { get; set; }

        public int FencingHookTimeoutSeconds { get; set; } = 10;

        /// <summary>QEMU's second QMP monitor at a site, for observers while a guard holds the first.</summary>
        public string WatchSocketOf(ColoSite site) => System.IO.Path.Combine(GetSite(site).WorkDirectory, Name + ".watch.qmp");

        public ColoSiteConfig GetSite(ColoSite site) => site == ColoSite.A ? SiteA : SiteB;

        public static ColoSite Other(ColoSite site) => site == ColoSite.A ? ColoSite.B : ColoSite.A;

        /// <summary>Where a site keeps its parent disk: DiskPath, or &lt;WorkDirectory&gt;/&lt;Name&gt;.qcow2.</summary>
        public string DiskPathOf(ColoSite site)
        {
            var s = GetSite(site);
            return string.IsNullOrEmpty(s.DiskPath) ? System.IO.Path.Combine(s.WorkDirectory, Name + ".qcow2") : s.DiskPath!;
        }

        public string QmpSocketOf(ColoSite site) => System.IO.Path.Combine(GetSite(site).WorkDirectory, Name + ".qmp");
        public string PidFileOf(ColoSite site) => System.IO.Path.Combine(GetSite(site).WorkDirectory, Name + ".pid");
        /// <summary>QEMU's own log (-D): with -daemonize its stderr goes nowhere else. The previous start's is kept as .log.1.</summary>
        public string QemuLogOf(ColoSite site) => System.IO.Path.Combine(GetSite(site).WorkDirectory, Name + ".log");
        public string ActiveOverlayOf(ColoSite site) => System.IO.Path.Combine(GetSite(site).WorkDirectory, Name + "-active.qcow2");
        public string HiddenOverlayOf(ColoSite site) => System.IO.Path.Combine(GetSite(site).WorkDirectory, Name + "-hidden.qcow2");

        /// <summary>The tap a site's NIC uses: the site's own, else the VM's.</summary>
        public string? TapOf(ColoSite site) => string.IsNullOrEmpty(GetSite(site).TapInterface) ? Vm.TapInterface : GetSite(site).TapInterface;
    }

    public sealed class ColoVmConfig
    {
        /// <summary>The NIC models COLO's filters handle as ColoPS drives them (virtio-net would need vnet_hdr_support on every filter).</summary>
        public static readonly System.Collections.Generic.IReadOnlyList<string> NicModels = new[] { "rtl8139", "e1000" };
        /// <summary>"user" (QEMU's slirp, no host setup) or "tap".</summary>
        public static readonly System.Collections.Generic.IReadOnlyList<string> NetworkBackends = new[] { "user", "tap" };

        public int MemoryMB { get; set; } = 512;
        public int Cpus { get; set; } = 1;
        public string MachineType { get; set; } = "pc";
        public string CpuModel { get; set; } = "qemu64";

        /// <summary>Size of the empty disk created when no DiskImage is given.</summary>
        public double DiskSizeGB { get; set; } = 1;

        /// <summary>An existing qcow2 image copied to each site's DiskPath when that file is missing.</summary>
        public string? DiskImage { get; set; }

        /// <summary>Guest NIC model: rtl8139 or e1000 (virtio-net would need vnet_hdr_support on every filter).</summary>
        public string NicModel { get; set; } = "rtl8139";

        /// <summary>
        /// The guest NIC's MAC address, the same at both sites (the secondary is the same machine).
        /// Null keeps QEMU's default, which every VM gets: set it when several VMs share a network.
        /// </summary>
        public string? MacAddress { get; set; }

        /// <summary>"user" (QEMU's slirp, no host setup) or "tap".</summary>
        public string NetworkBackend { get; set; } = "user";

        /// <summary>With NetworkBackend tap: the tap interface name on each host.</summary>
        public string? TapInterface { get; set; }

        /// <summary>Extra arguments for both QEMUs (e.g. -kernel for a test guest). Validated like the rest.</summary>
        public string[] ExtraArguments { get; set; } = Array.Empty<string>();
    }

    public sealed class ColoSiteConfig
    {
        /// <summary>The address COLO's TCP services of this site bind and the peer connects to.</summary>
        public string Address { get; set; } = string.Empty;

        /// <summary>Folder for this site's QMP socket, overlays, pid and log files. Created private (0700).</summary>
        public string WorkDirectory { get; set; } = string.Empty;

        /// <summary>
        /// The address of the compare loops, the clear sockets QEMU connects to itself: the site's
        /// own address when that is a loopback one (two sites on one host keep their ports apart),
        /// else 127.0.0.1, so the loops cannot be reached from the network.
        /// </summary>
        public string LoopAddress()
            => System.Net.IPAddress.TryParse(Address, out var ip) && System.Net.IPAddress.IsLoopback(ip) ? Address : "127.0.0.1";

        /// <summary>The parent disk at this site; &lt;WorkDirectory&gt;/&lt;Name&gt;.qcow2 when empty.</summary>
        public string? DiskPath { get; set; }

        /// <summary>With a tap backend: this site's tap interface, when it differs from Vm.TapInterface (two sites on one host).</summary>
        public string? TapInterface { get; set; }

        /// <summary>
        /// A QMP monitor on a TLS socket, for a pwsh on another host (Connect-ColoNode -Remote).
        /// Needs the Tls section: clients prove themselves with a certificate of the pair's CA whose
        /// subject is one of Tls.OperatorIdentities. Null: the monitors are unix sockets only.
        /// </summary>
        public ColoManagementConfig? Management { get; set; }
    }

    /// <summary>Where a site serves its remote QMP monitor.</summary>
    public sealed class ColoManagementConfig
    {
        /// <summary>The one address the monitor binds (never every interface); the site's certificate must carry it.</summary>
        public string Address { get; set; } = string.Empty;
        public int Port { get; set; }
    }

    /// <summary>The TCP ports of the procedure. Each binds the address of the site that serves it.</summary>
    public sealed class ColoPortConfig
    {
        /// <summary>compare0/compare0-0: the primary's own packets into colo-compare (internal).</summary>
        public int CompareIn { get; set; } = 9001;
        /// <summary>mirror0: client packets mirrored from the primary to the secondary.</summary>
        public int Mirror { get; set; } = 9003;
        /// <summary>compare1: the secondary's packets back to the primary's colo-compare.</summary>
        public int Compare { get; set; } = 9004;
        /// <summary>compare_out/compare_out0: colo-compare's output back to the primary's NIC (internal).</summary>
        public int CompareOut { get; set; } = 9005;
        /// <summary>-incoming on the secondary: the checkpoint stream.</summary>
        public int Migration { get; set; } = 9998;
        /// <summary>The secondary's NBD server for disk replication.</summary>
        public int Nbd { get; set; } = 9999;

        [JsonIgnore]
        internal (string Name, int Port)[] All => new[]
        {
            ("CompareIn", CompareIn), ("Mirror", Mirror), ("Compare", Compare),
            ("CompareOut", CompareOut), ("Migration", Migration), ("Nbd", Nbd),
        };
    }

    public sealed class ColoQemuConfig
    {
        public string Binary { get; set; } = "qemu-system-x86_64";
        public string ImgBinary { get; set; } = "qemu-img";
        public ColoAccelerator Accelerator { get; set; } = ColoAccelerator.Auto;

        /// <summary>Extra -L folders (firmware), for an unpacked QEMU.</summary>
        public string[] DataDirectories { get; set; } = Array.Empty<string>();

        /// <summary>QEMU_MODULE_DIR for an unpacked QEMU; unset when empty.</summary>
        public string? ModuleDirectory { get; set; }
    }

    public sealed class ColoTuningConfig
    {
        /// <summary>x-checkpoint-delay: idle checkpoint period in ms; QEMU's default when null.</summary>
        public int? CheckpointIntervalMs { get; set; }

        /// <summary>colo-compare compare_timeout (ms): how long an unmatched packet waits before a checkpoint.</summary>
        public int? CompareTimeoutMs { get; set; }

        /// <summary>colo-compare expired_scan_cycle (ms).</summary>
        public int? ExpiredScanCycleMs { get; set; }

        /// <summary>colo-compare max_queue_size (packets).</summary>
        public int? MaxQueueSize { get; set; }
    }
}

namespace ColoPS.Colo
{
    /// <summary>Where the witness (etcd, v3 JSON gateway) answers and the guard's lease timing.</summary>
    public sealed class ColoWitnessConfig
    {
        /// <summary>One client URL per etcd member, e.g. http://10.0.0.5:2379.</summary>
        public string[] Endpoints { get; set; } = Array.Empty<string>();

        /// <summary>The pair's name under the key prefix; the configuration's Name when empty.</summary>
        public string? Pair { get; set; }

        /// <summary>The key root shared by many pairs.</summary>
        public string Prefix { get; set; } = Witness.PairWitness.DefaultRoot;

        /// <summary>2 s is etcd's minimum with its default election timeout: a lost site is taken over after about this long.</summary>
        public int LeaseTtlSeconds { get; set; } = 2;

        /// <summary>How long before its lease may expire an owner that cannot renew stops its VM; a quarter of the TTL when null.</summary>
        public int? FenceMarginMs { get; set; }

        /// <summary>
        /// UDP port of the guards' heartbeat, bound on each site's Address (never a wildcard) and sent
        /// to the peer's. Null: no heartbeat, so a guard cannot tell a cut link from a witness outage
        /// and waits for COLO_EXIT; set it wherever the sites can be partitioned.
        /// </summary>
        public int? HeartbeatPort { get; set; }

        /// <summary>The whole budget of one witness call, across every member.</summary>
        public int CallTimeoutMs { get; set; } = 2000;

        /// <summary>
        /// Whether the guards protect the VM again by themselves after a failover: the guard whose
        /// QEMU died starts a new secondary at its site once the peer owns a newer epoch, and the
        /// survivor's guard resumes replication to it. Off by default: it starts QEMU and copies the disk.
        /// </summary>
        public bool Reprotect { get; set; }

        public string PairName(ColoConfig config) => string.IsNullOrEmpty(Pair) ? config.Name : Pair!;

        public TimeSpan FenceMargin => FenceMarginMs.HasValue ? TimeSpan.FromMilliseconds(FenceMarginMs.Value) : TimeSpan.FromMilliseconds(LeaseTtlSeconds * 250);
    }
}
