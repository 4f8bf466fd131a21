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
        public int MemoryMB { get; set; } = 512;

        [Parameter]
        public int Cpus { get; set; } = 1;

        /// <summary>Size of the empty disk created at each site when no -DiskImage is given.</summary>
        [Parameter]
        public double DiskSizeGB { get; set; } = 1;

        /// <summary>A qcow2 image copied to each site's disk path when that file is missing.</summary>
        [Parameter]
        public string? DiskImage { get; set; }

        [Parameter]
        public string MachineType { get; set; } = "pc";

        [Parameter]
        [ValidateSet("rtl8139", "e1000")]
        public string NicModel { get; set; } = "rtl8139";

        /// <summary>The guest NIC's MAC address at both sites; QEMU's default when omitted.</summary>
        [Parameter]
        public string? MacAddress { get; set; }

        [Parameter]
        [ValidateSet("user", "tap")]
        public string NetworkBackend { get; set; } = "user";

        [Parameter]
        public string? TapInterface { get; set; }

        /// <summary>Port overrides, e.g. @{ Migration = 19998; Nbd = 19999 }. Keys: CompareIn, Mirror, Compare, CompareOut, Migration, Nbd.</summary>
        [Parameter]
        public IDictionary? Ports { get; set; }

        [Parameter]
        public string QemuBinary { get; set; } = "qemu-system-x86_64";

        [Parameter]
        public string QemuImgBinary { get; set; } = "qemu-img";

        [Parameter]
        public ColoAccelerator Accelerator { get; set; } = ColoAccelerator.Auto;

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

        protected override void ProcessRecord()
        {
            ColoConfig config;
            try
            {
                config = new ColoConfig
                {
                    Name = Name,
                    Vm = new ColoVmConfig
                    {
                        MemoryMB = MemoryMB,
                        Cpus = Cpus,
                        DiskSizeGB = DiskSizeGB,
                        DiskImage = DiskImage is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DiskImage),
                        MachineType = MachineType,
                        NicModel = NicModel,
                        MacAddress = MacAddress,
                        NetworkBackend = NetworkBackend,
                        TapInterface = TapInterface,
                        ExtraArguments = ExtraArgument,
                    },
                    SiteA = Site(SiteA, "SiteA"),
                    SiteB = Site(SiteB, "SiteB"),
                    Ports = PortsFrom(Ports),
                    Qemu = new ColoQemuConfig
                    {
                        Binary = QemuBinary,
                        ImgBinary = QemuImgBinary,
                        Accelerator = Accelerator,
                        DataDirectories = QemuDataDirectory,
                        ModuleDirectory = QemuModuleDirectory,
                    },
                    Tuning = new ColoTuningConfig
                    {
                        CheckpointIntervalMs = Bound(nameof(CheckpointIntervalMs)) ? CheckpointIntervalMs : (int?)null,
                        CompareTimeoutMs = Bound(nameof(CompareTimeoutMs)) ? CompareTimeoutMs : (int?)null,
                        ExpiredScanCycleMs = Bound(nameof(ExpiredScanCycleMs)) ? ExpiredScanCycleMs : (int?)null,
                        MaxQueueSize = Bound(nameof(MaxQueueSize)) ? MaxQueueSize : (int?)null,
                    },
                };
                ColoConfigValidator.ThrowIfInvalid(config);
            }
            catch (ColoException ex)
            {
                WriteMappedError(ex, Name);
                return;
            }
            WriteObject(config);
        }

        private bool Bound(string name) => MyInvocation.BoundParameters.ContainsKey(name);

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
                    default:
                        throw new ColoException("ColoConfigUnknownKey", ColoErrorKind.InvalidArgument,
                            $"-{parameter} has an unknown key '{key}'; use Address, WorkDirectory, DiskPath and TapInterface.");
                }
            }
            return site;
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
