using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using ColoPS.Qemu;

namespace ColoPS.Colo
{
    /// <summary>One thing wrong with a configuration, with a stable id.</summary>
    public sealed class ColoConfigProblem
    {
        public ColoConfigProblem(string errorId, string field, string message)
        {
            ErrorId = errorId;
            Field = field;
            Message = message;
        }

        public string ErrorId { get; }
        public string Field { get; }
        public string Message { get; }
        public override string ToString() => $"{Field}: {Message}";
    }

    /// <summary>
    /// Checks a configuration before anything starts. Values end up inside QEMU option strings
    /// (comma-separated key=value) and HMP command lines (space-separated), so characters that
    /// would change their meaning are refused rather than escaped.
    /// </summary>
    public static class ColoConfigValidator
    {
        private static readonly Regex s_name = new Regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$", RegexOptions.CultureInvariant);
        private static readonly Regex s_token = new Regex("^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$", RegexOptions.CultureInvariant);
        private static readonly Regex s_mac = new Regex("^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$", RegexOptions.CultureInvariant);
        private static readonly IReadOnlyList<string> s_nicModels = ColoVmConfig.NicModels;
        private static readonly IReadOnlyList<string> s_backends = ColoVmConfig.NetworkBackends;
        private static readonly Regex s_addressChars = new Regex(@"^[0-9A-Fa-f.:]+(%[A-Za-z0-9_.-]+)?$", RegexOptions.CultureInvariant);
        private static readonly string[] s_reservedArguments = { "-qmp", "-qmp-pretty", "-monitor", "-mon", "-incoming", "-daemonize", "-pidfile", "-D", "-msg", "-name", "-drive", "-netdev", "-nic" };

        /// <param name="files">
        /// What of this host's files is looked into: a configuration is read on any host (either
        /// site's or an operator's), and only the host that starts a site needs its QEMU programs
        /// and its certificate folder. Null: the configuration's shape only.
        /// </param>
        /// <param name="certificatesToCome">New-ColoConfig: a remote monitor may be configured before New-ColoCertificate adds the Tls section it needs.</param>
        public static IReadOnlyList<ColoConfigProblem> Validate(ColoConfig config, ColoHostFiles? files, bool certificatesToCome = false)
        {
            files ??= ColoHostFiles.None;
            var problems = new List<ColoConfigProblem>();
            void Add(string id, string field, string message) => problems.Add(new ColoConfigProblem(id, field, message));

            if (string.IsNullOrEmpty(config.Name) || !s_name.IsMatch(config.Name))
                Add("ColoConfigInvalidName", "Name", $"'{config.Name}' is not a valid VM name: 1 to 32 letters, digits, '-', '_' or '.', starting with a letter or digit.");

            // A configuration file can say "Ports": null; every later step reads these sections.
            foreach (var (section, value) in new (string, object?)[] { ("Vm", config.Vm), ("SiteA", config.SiteA), ("SiteB", config.SiteB), ("Ports", config.Ports), ("Qemu", config.Qemu), ("Tuning", config.Tuning), ("Vm.ExtraArguments", config.Vm?.ExtraArguments), ("Qemu.DataDirectories", config.Qemu?.DataDirectories) })
            {
                if (value == null) Add("ColoConfigMissingSection", section, $"The configuration has no {section}; leave the member out for its defaults instead of setting it to null.");
            }

            var vm = config.Vm ?? new ColoVmConfig();
            if (vm.MemoryMB < 32 || vm.MemoryMB > 1024 * 1024)
                Add("ColoConfigInvalidMemory", "Vm.MemoryMB", $"{vm.MemoryMB} MB is out of range (32 to 1048576). The secondary needs about twice this much host memory.");
            if (vm.Cpus < 1 || vm.Cpus > 255)
                Add("ColoConfigInvalidCpus", "Vm.Cpus", $"{vm.Cpus} vCPUs is out of range (1 to 255).");
            CheckToken(vm.MachineType, "Vm.MachineType", Add);
            CheckToken(vm.CpuModel, "Vm.CpuModel", Add);
            if (!s_nicModels.Contains(vm.NicModel))
                Add("ColoConfigInvalidOption", "Vm.NicModel", $"'{vm.NicModel}' is not supported; use one of {string.Join(", ", s_nicModels)} (virtio-net needs vnet_hdr on every COLO filter).");
            if (vm.MacAddress != null && !IsUnicastMac(vm.MacAddress))
                Add("ColoConfigInvalidMacAddress", "Vm.MacAddress", $"'{vm.MacAddress}' is not a unicast MAC address such as 52:54:00:12:34:56 (six hex pairs separated by ':', the first with its lowest bit clear, not all zero).");
            if (!s_backends.Contains(vm.NetworkBackend))
                Add("ColoConfigInvalidOption", "Vm.NetworkBackend", $"'{vm.NetworkBackend}' is not a network backend; use user or tap.");
            if (vm.NetworkBackend == "tap")
            {
                foreach (var site in new[] { ColoSite.A, ColoSite.B })
                {
                    var tap = config.SiteA == null || config.SiteB == null ? vm.TapInterface : config.TapOf(site);
                    if (string.IsNullOrEmpty(tap) || !s_token.IsMatch(tap!))
                        Add("ColoConfigInvalidOption", $"Site{site}.TapInterface", "A tap backend needs a tap interface name (Vm.TapInterface or the site's TapInterface) of letters, digits, '-', '_' or '.'.");
                }
            }
            if (string.IsNullOrEmpty(vm.DiskImage))
            {
                if (!(vm.DiskSizeGB > 0) || vm.DiskSizeGB > 65536)
                    Add("ColoConfigInvalidDiskSize", "Vm.DiskSizeGB", $"{vm.DiskSizeGB} GB is out of range (more than 0, at most 65536).");
            }
            else
            {
                CheckPath(vm.DiskImage!, "Vm.DiskImage", Add);
                if (files.Programs && !File.Exists(vm.DiskImage))
                    Add("ColoConfigDiskImageNotFound", "Vm.DiskImage", $"The disk image {vm.DiskImage} does not exist.");
            }
            foreach (var arg in vm.ExtraArguments ?? Array.Empty<string>())
            {
                if (arg == null || arg.IndexOfAny(new[] { '\n', '\r', '\0' }) >= 0)
                    Add("ColoConfigInvalidArgument", "Vm.ExtraArguments", "An extra argument is empty or holds a line break or NUL.");
                else if (s_reservedArguments.Contains(arg))
                    Add("ColoConfigInvalidArgument", "Vm.ExtraArguments", $"'{arg}' is managed by ColoPS and cannot be given as an extra argument.");
            }

            var a = config.SiteA ?? new ColoSiteConfig();
            var b = config.SiteB ?? new ColoSiteConfig();
            var ipA = CheckAddress(a.Address, "SiteA.Address", Add);
            var ipB = CheckAddress(b.Address, "SiteB.Address", Add);
            if (ipA != null && ipB != null && ipA.Equals(ipB))
                Add("ColoConfigInvalidAddress", "SiteB.Address", $"Both sites use {ipA}; each site needs its own address (127.0.0.1 and 127.0.0.2 for a pair on one host).");
            if (ipA != null && ipB != null && ipA.AddressFamily != ipB.AddressFamily)
                Add("ColoConfigInvalidAddress", "SiteB.Address", "Both sites must use the same address family.");

            foreach (var (site, field) in new[] { (a, "SiteA"), (b, "SiteB") })
            {
                if (string.IsNullOrEmpty(site.WorkDirectory) || !Path.IsPathRooted(site.WorkDirectory))
                    Add("ColoConfigInvalidPath", field + ".WorkDirectory", $"'{site.WorkDirectory}' is not an absolute folder path.");
                else
                    CheckPath(site.WorkDirectory, field + ".WorkDirectory", Add);
                if (!string.IsNullOrEmpty(site.DiskPath))
                {
                    if (!Path.IsPathRooted(site.DiskPath)) Add("ColoConfigInvalidPath", field + ".DiskPath", $"'{site.DiskPath}' is not an absolute path.");
                    else CheckPath(site.DiskPath!, field + ".DiskPath", Add);
                }
            }
            if (!string.IsNullOrEmpty(a.WorkDirectory) && string.Equals(Path.GetFullPath(a.WorkDirectory), Path.GetFullPath(b.WorkDirectory ?? ""), StringComparison.Ordinal))
                Add("ColoConfigInvalidPath", "SiteB.WorkDirectory", "Both sites use the same work directory; their sockets and overlays would collide.");
            if (problems.Count == 0 && string.Equals(config.DiskPathOf(ColoSite.A), config.DiskPathOf(ColoSite.B), StringComparison.Ordinal))
                Add("ColoConfigInvalidPath", "SiteB.DiskPath", "Both sites use the same disk file; each site needs its own copy.");
            if (problems.Count == 0)
            {
                foreach (var site in new[] { ColoSite.A, ColoSite.B })
                {
                    var socket = config.QmpSocketOf(site);
                    if (Encoding.UTF8.GetByteCount(socket) > 107)
                        Add("ColoConfigSocketPathTooLong", $"Site{site}.WorkDirectory", $"The QMP socket path {socket} is longer than the 107 bytes a unix socket address holds; choose a shorter work directory.");
                }
            }

            var ports = (config.Ports ?? new ColoPortConfig()).All;
            foreach (var (name, port) in ports)
            {
                if (port < 1 || port > 65535) Add("ColoConfigInvalidPort", "Ports." + name, $"{port} is not a TCP port (1 to 65535).");
            }
            foreach (var dup in ports.GroupBy(p => p.Port).Where(g => g.Count() > 1))
                Add("ColoConfigDuplicatePort", "Ports", $"Port {dup.Key} is used for {string.Join(" and ", dup.Select(p => p.Name))}; every COLO port must differ.");

            var qemu = config.Qemu ?? new ColoQemuConfig();
            if (files.Programs)
            {
                if (QemuBinary.Resolve(qemu.Binary) == null)
                    Add("ColoConfigBinaryNotFound", "Qemu.Binary", $"The QEMU binary '{qemu.Binary}' was not found (install qemu-system-x86 or give a full path).");
                if (QemuBinary.Resolve(qemu.ImgBinary) == null)
                    Add("ColoConfigBinaryNotFound", "Qemu.ImgBinary", $"'{qemu.ImgBinary}' was not found (install qemu-utils or give a full path).");
            }
            foreach (var dir in qemu.DataDirectories ?? Array.Empty<string>()) CheckPath(dir, "Qemu.DataDirectories", Add);

            var t = config.Tuning ?? new ColoTuningConfig();
            CheckPositive(t.CheckpointIntervalMs, "Tuning.CheckpointIntervalMs", Add);
            CheckPositive(t.CompareTimeoutMs, "Tuning.CompareTimeoutMs", Add);
            CheckPositive(t.ExpiredScanCycleMs, "Tuning.ExpiredScanCycleMs", Add);
            CheckPositive(t.MaxQueueSize, "Tuning.MaxQueueSize", Add);

            if (config.Tls != null) ColoTlsValidator.Validate(config, config.Tls, files, Add, (path, field) => CheckPath(path, field, Add));
            ColoManagementValidator.Validate(config, !certificatesToCome, Add, (address, field) => CheckAddress(address, field, Add));
            ColoGuardConfigValidator.Validate(config, Add);
            return problems;
        }

        /// <summary>Throws a ColoException carrying the first problem's id and all problems' text.</summary>
        public static void ThrowIfInvalid(ColoConfig config, ColoHostFiles? files, bool certificatesToCome = false)
        {
            var problems = Validate(config, files, certificatesToCome);
            if (problems.Count == 0) return;
            var text = problems.Count == 1
                ? $"The COLO configuration '{config.Name}' is not valid: {problems[0]}"
                : $"The COLO configuration '{config.Name}' is not valid:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", problems);
            throw new ColoConfigException(problems, text);
        }

        private static IPAddress? CheckAddress(string address, string field, Action<string, string, string> add)
        {
            // TryParse also takes "[::1]" and zone ids of any text ("fe80::1%a b=c"): the address goes
            // into QEMU options and an HMP line as written, so only its plain characters are allowed.
            if (string.IsNullOrEmpty(address) || !s_addressChars.IsMatch(address) || !IPAddress.TryParse(address, out var ip))
            {
                add("ColoConfigInvalidAddress", field, $"'{address}' is not an IP address. Give the literal address COLO should bind (a host name could resolve to several).");
                return null;
            }
            if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))
            {
                add("ColoConfigInvalidAddress", field, $"{address} would listen on every interface; give the one address this site uses.");
                return null;
            }
            return ip;
        }

        private static void CheckPath(string path, string field, Action<string, string, string> add)
        {
            foreach (char c in path)
            {
                if (c == ',' || c == '=' || char.IsWhiteSpace(c) || char.IsControl(c) || c == '"' || c == '\'')
                {
                    add("ColoConfigInvalidPath", field, $"'{path}' contains '{(char.IsControl(c) ? "\\u" + ((int)c).ToString("x4") : c.ToString())}', which would break QEMU's option syntax or an HMP command line.");
                    return;
                }
            }
        }

        private static void CheckToken(string value, string field, Action<string, string, string> add)
        {
            if (string.IsNullOrEmpty(value) || !s_token.IsMatch(value))
                add("ColoConfigInvalidOption", field, $"'{value}' is not a valid value: letters, digits, '-', '_', '.', '+'.");
        }

        private static void CheckPositive(int? value, string field, Action<string, string, string> add)
        {
            if (value.HasValue && value.Value <= 0) add("ColoConfigInvalidTuning", field, $"{value} must be a positive number.");
        }

        private static bool IsUnicastMac(string mac)
        {
            if (!s_mac.IsMatch(mac)) return false;
            int first = Convert.ToInt32(mac.Substring(0, 2), 16);
            return (first & 1) == 0 && mac.Replace(":", string.Empty, StringComparison.Ordinal).Trim('0').Length > 0;
        }
    }

    /// <summary>A configuration failed validation; Problems lists every reason.</summary>
    public sealed class ColoConfigException : ColoException
    {
        public ColoConfigException(IReadOnlyList<ColoConfigProblem> problems, string message)
            : base(problems[0].ErrorId, ColoErrorKind.InvalidConfiguration, message)
        {
            Problems = problems;
        }

        public IReadOnlyList<ColoConfigProblem> Problems { get; }
    }
}
