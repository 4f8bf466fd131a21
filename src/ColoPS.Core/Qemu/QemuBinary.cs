using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;

namespace ColoPS.Qemu
{
    /// <summary>Finds QEMU binaries and asks them their version.</summary>
    public static class QemuBinary
    {
        private static readonly ConcurrentDictionary<string, (DateTime Stamp, QemuVersion Version)> s_versions = new ConcurrentDictionary<string, (DateTime, QemuVersion)>();

        /// <summary>A full path for a name on PATH or an existing file; null when there is none.</summary>
        public static string? Resolve(string nameOrPath)
        {
            if (string.IsNullOrEmpty(nameOrPath)) return null;
            if (nameOrPath.Contains('/')) return File.Exists(nameOrPath) ? Path.GetFullPath(nameOrPath) : null;
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
            {
                if (dir.Length == 0) continue;
                var candidate = Path.Combine(dir, nameOrPath);
                if (File.Exists(candidate)) return candidate;
            }
            return null;
        }

        /// <summary>Runs `binary --version` once per binary file version and parses it.</summary>
        public static async Task<QemuVersion> GetVersionAsync(string binary, IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken)
        {
            var path = Resolve(binary) ?? throw new ColoException("QemuBinaryNotFound", ColoErrorKind.ObjectNotFound, $"The QEMU binary '{binary}' was not found.");
            var stamp = File.GetLastWriteTimeUtc(path);
            if (s_versions.TryGetValue(path, out var cached) && cached.Stamp == stamp) return cached.Version;

            var result = await ProcessRunner.RunAsync(path, new[] { "--version" }, environment, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0 || !QemuVersion.TryParse(result.StandardOutput, out var version))
            {
                throw new ColoException("QemuVersionUnknown", ColoErrorKind.ProcessFailed,
                    $"'{path} --version' did not report a version (exit {result.ExitCode}): {result.StandardError.Trim()}");
            }
            s_versions[path] = (stamp, version!);
            return version!;
        }

        /// <summary>
        /// The accelerator Auto means here. /dev/kvm can exist without hardware virtualisation
        /// (a software hypervisor serves it); a Linux guest fails under that, so KVM is chosen only
        /// when the CPU also shows vmx or svm.
        /// </summary>
        public static ColoAccelerator ResolveAccelerator(ColoAccelerator requested)
        {
            if (requested != ColoAccelerator.Auto) return requested;
            return KvmUsable() ? ColoAccelerator.Kvm : ColoAccelerator.Tcg;
        }

        internal static bool KvmUsable()
        {
            try
            {
                using (File.Open("/dev/kvm", FileMode.Open, FileAccess.ReadWrite)) { }
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                {
                    if (!line.StartsWith("flags", StringComparison.Ordinal)) continue;
                    var flags = line.Split(' ', '\t');
                    return Array.IndexOf(flags, "vmx") >= 0 || Array.IndexOf(flags, "svm") >= 0;
                }
                return false;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                return false;
            }
        }
    }
}
