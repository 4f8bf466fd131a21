using System;
using System.Collections;
using System.Management.Automation;
using ColoPS.Colo;

namespace ColoPS.Commands
{
    /// <summary>Creates a validated COLO configuration: the VM, its two sites, ports, QEMU and tuning.</summary>
    [Cmdlet(VerbsCommon.New, "ColoConfig")]
    [OutputType(typeof(ColoConfig))]
    public sealed class NewColoConfigCommand : ColoCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; } = string.Empty;

        /// <summary>Site A: @{ Address = '127.0.0.1'; WorkDirectory = '/var/lib/colo/a'; DiskPath = (optional); TapInterface = (optional) }.</summary>
        [Parameter(Mandatory = true)]
        public IDictionary SiteA { get; set; } = null!;

        /// <summary>Site B, the same keys as SiteA.</summary>
        [Parameter(Mandatory = true)]
        public IDictionary SiteB { get; set; } = null!;

        [Parameter]
        public int MemoryMB { get; set; }

        [Parameter]
        public int Cpus { get; set; }

        /// <summary>Size of the empty disk created at each site when no -DiskImage is given.</summary>
        [Parameter]
        public double DiskSizeGB { get; set; }

        /// <summary>A qcow2 image copied to each site's disk path when that file is missing.</summary>
        [Parameter]
        public string? DiskImage { get; set; }

        [Parameter]
        public string MachineType { get; set; } = string.Empty;

        [Parameter]
        [ArgumentCompleter(typeof(NicModelCompleter))]
        public string NicModel { get; set; } = string.Empty;

        /// <summary>The guest NIC's MAC address at both sites; QEMU's default when omitted.</summary>
        [Parameter]
        public string? MacAddress { get; set; }

        [Parameter]
        [ArgumentCompleter(typeof(NetworkBackendCompleter))]
        public string NetworkBackend { get; set; } = string.Empty;

        [Parameter]
        public string? TapInterface { get; set; }

        /// <summary>Port overrides, e.g. @{ Migration = 19998; Nbd = 19999 }. Keys: CompareIn, Mirror, Compare, CompareOut, Migration, Nbd.</summary>
        [Parameter]
        public IDictionary? Ports { get; set; }

        [Parameter]
        public string QemuBinary { get; set; } = string.Empty;

        [Parameter]
        public string QemuImgBinary { get; set; } = string.Empty;

        [Parameter]
        public ColoAccelerator Accelerator { get; set; }

        /// <summary>Extra firmware folders (-L) for a QEMU unpacked outside the system paths.</summary>
        [Parameter]
        public string[] QemuDataDirectory { get; set; } = Array.Empty<string>();

        /// <summary>QEMU_MODULE_DIR for a QEMU unpacked outside the system paths.</summary>
        [Parameter]
        public string? QemuModuleDirectory { get; set; }

        /// <summary>Idle checkpoint period (x-checkpoint-delay) in milliseconds.</summary>
        [Parameter]
        public int CheckpointIntervalMs { get; set; }

        [Parameter]
        public int CompareTimeoutMs { get; set; }

        [Parameter]
        public int ExpiredScanCycleMs { get; set; }

        [Parameter]
        public int MaxQueueSize { get; set; }

        /// <summary>Extra QEMU arguments for both sides (for example -kernel and -append of a test guest).</summary>
        [Parameter]
        public string[] ExtraArgument { get; set; } = Array.Empty<string>();

        /// <summary>The etcd members' client URLs; gives the configuration a Witness section, which Start-ColoGuard needs.</summary>
        [Parameter]
        public string[] WitnessEndpoint { get; set; } = Array.Empty<string>();

        /// <summary>The pair's name under the witness's key prefix; the configuration's name when omitted.</summary>
        [Parameter]
        public string? WitnessPair { get; set; }

        [Parameter]
        public int WitnessLeaseTtlSeconds { get; set; }

        [Parameter]
        public int WitnessFenceMarginMs { get; set; }

        [Parameter]
        public int WitnessCallTimeoutMs { get; set; }

        /// <summary>UDP port of the guards' heartbeat on each site's address, so a guard sees a cut link.</summary>
        [Parameter]
        public int WitnessHeartbeatPort { get; set; }

        /// <summary>A command line the guard runs to fence a peer it cannot see before it takes over; exit 0 means fenced.</summary>
        [Parameter]
        public string? FencingHook { get; set; }

        [Parameter]
        public int FencingHookTimeoutSeconds { get; set; }

        protected override void ProcessRecord()
        {
            ColoConfig config;
            try
            {
                // Defaults belong to the configuration types: only what the caller said is set here.
                config = new ColoConfig { Name = Name, SiteA = Site(SiteA, "SiteA"), SiteB = Site(SiteB, "SiteB"), Ports = PortsFrom(Ports) };
                var vm = config.Vm;
                if (Bound(nameof(MemoryMB))) vm.MemoryMB = MemoryMB;
                if (Bound(nameof(Cpus))) vm.Cpus = Cpus;
                if (Bound(nameof(DiskSizeGB))) vm.DiskSizeGB = DiskSizeGB;
                if (DiskImage != null) vm.DiskImage = SessionState.Path.GetUnresolvedProviderPathFromPSPath(DiskImage);
                if (Bound(nameof(MachineType))) vm.MachineType = MachineType;
                if (Bound(nameof(NicModel))) vm.NicModel = NicModel;
                if (Bound(nameof(MacAddress))) vm.MacAddress = MacAddress;
                if (Bound(nameof(NetworkBackend))) vm.NetworkBackend = NetworkBackend;
                if (Bound(nameof(TapInterface))) vm.TapInterface = TapInterface;
                if (Bound(nameof(ExtraArgument))) vm.ExtraArguments = ExtraArgument;
                var qemu = config.Qemu;
                if (Bound(nameof(QemuBinary))) qemu.Binary = QemuBinary;
                if (Bound(nameof(QemuImgBinary))) qemu.ImgBinary = QemuImgBinary;
                if (Bound(nameof(Accelerator))) qemu.Accelerator = Accelerator;
                if (Bound(nameof(QemuDataDirectory))) qemu.DataDirectories = QemuDataDirectory;
                if (Bound(nameof(QemuModuleDirectory))) qemu.ModuleDirectory = QemuModuleDirectory;
                var tuning = config.Tuning;
                if (Bound(nameof(CheckpointIntervalMs))) tuning.CheckpointIntervalMs = CheckpointIntervalMs;
                if (Bound(nameof(CompareTimeoutMs))) tuning.CompareTimeoutMs = CompareTimeoutMs;
                if (Bound(nameof(ExpiredScanCycleMs))) tuning.ExpiredScanCycleMs = ExpiredScanCycleMs;
                if (Bound(nameof(MaxQueueSize))) tuning.MaxQueueSize = MaxQueueSize;
                ApplyGuard(config);
                // A remote monitor's address comes first: New-ColoCertificate writes it into the site's certificate.
                ColoConfigValidator.ThrowIfInvalid(config, ColoHostFiles.HeldHere(config), certificatesToCome: config.Tls == null);
            }
            catch (ColoException ex)
            {
                WriteMappedError(ex, Name);
                return;
            }
            WriteObject(config);
        }

        private bool Bound(string name) => MyInvocation.BoundParameters.ContainsKey(name);

        private void ApplyGuard(ColoConfig config)
        {
            bool witness = Bound(nameof(WitnessEndpoint)) || Bound(nameof(WitnessPair)) || Bound(nameof(WitnessLeaseTtlSeconds))
                || Bound(nameof(WitnessFenceMarginMs)) || Bound(nameof(WitnessCallTimeoutMs)) || Bound(nameof(WitnessHeartbeatPort));
            if (witness)
            {
                var w = config.Witness = new ColoWitnessConfig { Endpoints = WitnessEndpoint, Pair = WitnessPair };
                if (Bound(nameof(WitnessLeaseTtlSeconds))) w.LeaseTtlSeconds = WitnessLeaseTtlSeconds;
                if (Bound(nameof(WitnessFenceMarginMs))) w.FenceMarginMs = WitnessFenceMarginMs;
                if (Bound(nameof(WitnessCallTimeoutMs))) w.CallTimeoutMs = WitnessCallTimeoutMs;
                if (Bound(nameof(WitnessHeartbeatPort))) w.HeartbeatPort = WitnessHeartbeatPort;
            }
            if (Bound(nameof(FencingHook))) config.FencingHook = FencingHook;
            if (Bound(nameof(FencingHookTimeoutSeconds))) config.FencingHookTimeoutSeconds = FencingHookTimeoutSeconds;
        }

        private ColoSiteConfig Site(IDictionary table, string parameter)
        {
            var site = new ColoSiteConfig();
            foreach (DictionaryEntry e in table)
            {
                string key = Convert.ToString(e.Key, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
                string? value = e.Value is null ? null : Convert.ToString(PSObject.AsPSObject(e.Value).BaseObject, System.Globalization.CultureInfo.InvariantCulture);
                switch (key.ToLowerInvariant())
                {
                    case "address": site.Address = value ?? string.Empty; break;
                    case "workdirectory": site.WorkDirectory = value is null ? string.Empty : SessionState.Path.GetUnresolvedProviderPathFromPSPath(value); break;
                    case "diskpath": site.DiskPath = value is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(value); break;
                    case "tapinterface": site.TapInterface = value; break;
                    case "management": site.Management = Management(PSObject.AsPSObject(e.Value).BaseObject as IDictionary, parameter); break;
                    default:
                        throw new ColoException("ColoConfigUnknownKey", ColoErrorKind.InvalidArgument,
                            $"-{parameter} has an unknown key '{key}'; use Address, WorkDirectory, DiskPath, TapInterface and Management.");
                }
            }
            return site;
        }

        /// <summary>@{ Address = '10.0.0.5'; Port = 4444 }: the site's remote QMP monitor.</summary>
        private static ColoManagementConfig Management(IDictionary? table, string parameter)
        {
            if (table == null)
                throw new ColoException("ColoConfigUnknownKey", ColoErrorKind.InvalidArgument, $"-{parameter}'s Management is a hashtable with Address and Port.");
            var m = new ColoManagementConfig();
            foreach (DictionaryEntry e in table)
            {
                string key = Convert.ToString(e.Key, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
                object? value = e.Value is null ? null : PSObject.AsPSObject(e.Value).BaseObject;
                switch (key.ToLowerInvariant())
                {
                    case "address": m.Address = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty; break;
                    case "port":
                        try { m.Port = Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture); }
                        catch (Exception ex) when (ex is FormatException || ex is InvalidCastException || ex is OverflowException)
                        {
                            throw new ColoException("ColoConfigInvalidPort", ColoErrorKind.InvalidArgument, $"-{parameter}'s Management.Port '{value}' is not a number.", ex);
                        }
                        break;
                    default:
                        throw new ColoException("ColoConfigUnknownKey", ColoErrorKind.InvalidArgument, $"-{parameter}'s Management has an unknown key '{key}'; use Address and Port.");
                }
            }
            return m;
        }

        private static ColoPortConfig PortsFrom(IDictionary? table)
        {
            var ports = new ColoPortConfig();
            if (table == null) return ports;
            foreach (DictionaryEntry e in table)
            {
                string key = Convert.ToString(e.Key, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
                int value;
                try { value = Convert.ToInt32(PSObject.AsPSObject(e.Value).BaseObject, System.Globalization.CultureInfo.InvariantCulture); }
                catch (Exception ex) when (ex is FormatException || ex is InvalidCastException || ex is OverflowException)
                {
                    throw new ColoException("ColoConfigInvalidPort", ColoErrorKind.InvalidArgument, $"Port '{key}' = '{e.Value}' is not a number.");
                }
                switch (key.ToLowerInvariant())
                {
                    case "comparein": ports.CompareIn = value; break;
                    case "mirror": ports.Mirror = value; break;
                    case "compare": ports.Compare = value; break;
                    case "compareout": ports.CompareOut = value; break;
                    case "migration": ports.Migration = value; break;
                    case "nbd": ports.Nbd = value; break;
                    default:
                        throw new ColoException("ColoConfigUnknownKey", ColoErrorKind.InvalidArgument,
                            $"-Ports has an unknown key '{key}'; use CompareIn, Mirror, Compare, CompareOut, Migration and Nbd.");
                }
            }
            return ports;
        }
    }
}
