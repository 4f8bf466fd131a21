using System;
using System.Collections.Generic;
using System.Globalization;
using ColoPS.Colo;

namespace ColoPS.Qemu
{
    /// <summary>
    /// The argv of a COLO primary or secondary QEMU, following the procedure's command lines with
    /// two deliberate changes: every TCP service binds the serving site's own address (never
    /// 0.0.0.0), and QMP is a unix socket in the site's work directory.
    /// </summary>
    public static class QemuCommandLine
    {
        /// <summary>Names the procedure gives to QEMU objects; plans and command lines share them.</summary>
        public static class Ids
        {
            public const string Netdev = "hn0";
            public const string Nic = "e0";
            public const string Disk = "colo-disk0";
            public const string Parent = "parent0";
            public const string SecondaryChild = "childs0";
            public const string ReplicationNode = "replication0";
            public const string NbdExport = "parent0";
            public const string Mirror = "mirror0";
            public const string Compare = "compare1";
            public const string CompareIn = "compare0";
            public const string CompareInClient = "compare0-0";
            public const string CompareOut = "compare_out";
            public const string CompareOutClient = "compare_out0";
            public const string FilterMirror = "m0";
            public const string RedirectorIn = "redire0";
            public const string RedirectorOut = "redire1";
            public const string IoThread = "iothread1";
            public const string CompareObject = "comp0";
            public const string SecondaryRedirectorIn = "f1";
            public const string SecondaryRedirectorOut = "f2";
            public const string SecondaryMirrorChardev = "red0";
            public const string SecondaryCompareChardev = "red1";
            public const string Rewriter = "rew0";

            /// <summary>The chardevs that carry traffic to the peer: what a failover yanks and a status read checks.</summary>
            public static string[] PeerFacingChardevs(bool secondary)
                => secondary ? new[] { SecondaryMirrorChardev, SecondaryCompareChardev } : new[] { Mirror, Compare };
            public const string TlsServer = "tls-server0";
            public const string TlsClient = "tls-client0";
            public const string TlsAuthz = "authz0";
            /// <summary>The remote QMP monitor's socket and who may use it.</summary>
            public const string ManagementChardev = "mgmt0";
            public const string ManagementAuthz = "authz-mgmt0";
            public const string ManagementMonitor = "mon-mgmt0";
        }

        public static IReadOnlyList<string> Primary(ColoConfig config, ColoSite site, QemuVersion version, ColoAccelerator accelerator)
        {
            var self = config.GetSite(site);
            string a = self.Address;
            var p = config.Ports;
            var args = Common(config, site, "primary", version, accelerator);
            args.AddRange(new[]
            {
                // The two sockets the secondary connects to; the compare loops below never leave
                // this host (they bind a loopback address and connect to it), so they stay plain.
                "-chardev", Socket(Ids.Mirror, a, p.Mirror, server: true) + QemuTls.ServerChardevSuffix(config),
                "-chardev", Socket(Ids.Compare, a, p.Compare, server: true) + QemuTls.ServerChardevSuffix(config),
                "-chardev", Socket(Ids.CompareIn, self.LoopAddress(), p.CompareIn, server: true),
                "-chardev", Socket(Ids.CompareInClient, self.LoopAddress(), p.CompareIn, server: false),
                "-chardev", Socket(Ids.CompareOut, self.LoopAddress(), p.CompareOut, server: true),
                "-chardev", Socket(Ids.CompareOutClient, self.LoopAddress(), p.CompareOut, server: false),
                "-object", $"filter-mirror,id={Ids.FilterMirror},netdev={Ids.Netdev},queue=tx,outdev={Ids.Mirror}",
                "-object", $"filter-redirector,id={Ids.RedirectorIn},netdev={Ids.Netdev},queue=rx,indev={Ids.CompareOut}",
                "-object", $"filter-redirector,id={Ids.RedirectorOut},netdev={Ids.Netdev},queue=rx,outdev={Ids.CompareIn}",
                "-object", $"iothread,id={Ids.IoThread}",
                "-object", CompareObject(config),
                "-drive", $"if=ide,id={Ids.Disk},driver=quorum,read-pattern=fifo,vote-threshold=1,children.0.file.filename={config.DiskPathOf(site)},children.0.driver=qcow2",
                "-S",
            });
            return args;
        }

        public static IReadOnlyList<string> Secondary(ColoConfig config, ColoSite site, QemuVersion version, ColoAccelerator accelerator)
        {
            var self = config.GetSite(site);
            var primary = config.GetSite(ColoConfig.Other(site));
            var p = config.Ports;
            string reconnect = QemuFeatures.Of(version).ReconnectOption;
            var args = Common(config, site, "secondary", version, accelerator);
            args.AddRange(new[]
            {
                "-chardev", $"socket,id={Ids.SecondaryMirrorChardev},host={primary.Address},port={p.Mirror},{reconnect}" + QemuTls.ClientChardevSuffix(config),
                "-chardev", $"socket,id={Ids.SecondaryCompareChardev},host={primary.Address},port={p.Compare},{reconnect}" + QemuTls.ClientChardevSuffix(config),
                "-object", $"filter-redirector,id={Ids.SecondaryRedirectorIn},netdev={Ids.Netdev},queue=tx,indev={Ids.SecondaryMirrorChardev}",
                "-object", $"filter-redirector,id={Ids.SecondaryRedirectorOut},netdev={Ids.Netdev},queue=rx,outdev={Ids.SecondaryCompareChardev}",
                "-object", $"filter-rewriter,id={Ids.Rewriter},netdev={Ids.Netdev},queue=all",
                "-drive", $"if=none,id={Ids.Parent},file.filename={config.DiskPathOf(site)},driver=qcow2",
                "-drive", $"if=none,id={Ids.SecondaryChild},driver=replication,mode=secondary,file.driver=qcow2,top-id={Ids.Disk},"
                          + $"file.file.filename={config.ActiveOverlayOf(site)},file.backing.driver=qcow2,"
                          + $"file.backing.file.filename={config.HiddenOverlayOf(site)},file.backing.backing={Ids.Parent}",
                "-drive", $"if=ide,id={Ids.Disk},driver=quorum,read-pattern=fifo,vote-threshold=1,children.0={Ids.SecondaryChild}",
                // With TLS the port opens only once the checkpoint stream's TLS settings are in place
                // (SecondaryPrepare: migrate-set-parameters, then migrate-incoming): a listener opened
                // by -incoming tcp: would take a VM state in clear from whoever connects before then.
                "-incoming", config.Tls != null ? "defer" : IncomingUri(config, site),
            });
            return args;
        }

        /// <summary>IPv6 literals need brackets in QEMU's host:port URIs.</summary>
        public static string Host(string address) => address.Contains(':') ? "[" + address + "]" : address;

        /// <summary>Where the secondary takes the checkpoint stream: tcp:&lt;site address&gt;:&lt;Ports.Migration&gt;.</summary>
        public static string IncomingUri(ColoConfig config, ColoSite site) => $"tcp:{Host(config.GetSite(site).Address)}:{config.Ports.Migration}";

        private static List<string> Common(ColoConfig config, ColoSite site, string role, QemuVersion version, ColoAccelerator accelerator)
        {
            var vm = config.Vm;
            var args = new List<string>();
            foreach (var dir in config.Qemu.DataDirectories) { args.Add("-L"); args.Add(dir); }
            args.AddRange(new[]
            {
                "-name", $"{config.Name}-{site}",
                "-accel", accelerator == ColoAccelerator.Kvm ? "kvm" : "tcg",
                "-machine", vm.MachineType,
                "-cpu", vm.CpuModel,
                "-m", vm.MemoryMB.ToString(CultureInfo.InvariantCulture),
                "-smp", vm.Cpus.ToString(CultureInfo.InvariantCulture),
                "-nodefaults",
                "-display", "none",
                "-serial", "none",
                "-qmp", $"unix:{config.QmpSocketOf(site)},server=on,wait=off",
                // A second monitor for observers (a status read or a test's sampler) while a guard holds the first.
                "-qmp", $"unix:{config.WatchSocketOf(site)},server=on,wait=off",
                "-pidfile", config.PidFileOf(site),
                "-daemonize",
                // A daemonized QEMU writes its error messages (start-up and later: a chardev that
                // cannot connect, a failed migration) to the -D log instead of /dev/null.
                "-D", config.QemuLogOf(site),
                // ... each with the time it was said, so a log read after a failover tells old from new.
                "-msg", "timestamp=on",
                "-netdev", vm.NetworkBackend == "tap"
                    ? $"tap,id={Ids.Netdev},ifname={config.TapOf(site)},script=no,downscript=no,vhost=off"
                    : $"user,id={Ids.Netdev}",
                // No option ROM: the guest boots from the COLO disk, and iPXE's DHCP chatter would
                // make colo-compare force checkpoints before the guest has even started.
                "-device", $"{vm.NicModel},id={Ids.Nic},netdev={Ids.Netdev},romfile=" + (vm.MacAddress is null ? string.Empty : ",mac=" + vm.MacAddress.ToLowerInvariant()),
            });
            args.AddRange(QemuTls.Objects(config, site, QemuFeatures.Of(version)));
            args.AddRange(vm.ExtraArguments);
            return args;
        }

        private static string Socket(string id, string address, int port, bool server)
            => server
                ? $"socket,id={id},host={address},port={port},server=on,wait=off"
                : $"socket,id={id},host={address},port={port}";

        private static string CompareObject(ColoConfig config)
        {
            var t = config.Tuning;
            var s = $"colo-compare,id={Ids.CompareObject},primary_in={Ids.CompareInClient},secondary_in={Ids.Compare},outdev={Ids.CompareOutClient},iothread={Ids.IoThread}";
            if (t.CompareTimeoutMs.HasValue) s += ",compare_timeout=" + t.CompareTimeoutMs.Value.ToString(CultureInfo.InvariantCulture);
            if (t.ExpiredScanCycleMs.HasValue) s += ",expired_scan_cycle=" + t.ExpiredScanCycleMs.Value.ToString(CultureInfo.InvariantCulture);
            if (t.MaxQueueSize.HasValue) s += ",max_queue_size=" + t.MaxQueueSize.Value.ToString(CultureInfo.InvariantCulture);
            return s;
        }
    }
}
