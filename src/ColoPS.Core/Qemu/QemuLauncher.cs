using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;

namespace ColoPS.Qemu
{
    /// <summary>
    /// Starts QEMU daemonized: the VM must outlive the PowerShell session that started it, and
    /// QEMU's own -daemonize reports start-up failures on stderr and in its exit code before it
    /// detaches, so a failed start carries QEMU's message.
    /// </summary>
    internal static class QemuLauncher
    {
        public static async Task<int> StartAsync(string binary, IReadOnlyList<string> arguments, string pidFile, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var path = QemuBinary.Resolve(binary) ?? throw new ColoException("QemuBinaryNotFound", ColoErrorKind.ObjectNotFound, $"The QEMU binary '{binary}' was not found.");
            var result = await ProcessRunner.RunAsync(path, arguments, environment, timeout, cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                var stderr = result.StandardError.Trim();
                throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed,
                    stderr.Length > 0
                        ? $"QEMU exited with code {result.ExitCode} at start: {stderr}"
                        // -daemonize: the parent reports failure without a word when its child dies (a kill, an OOM) before it is up.
                        : $"QEMU exited with code {result.ExitCode} at start without a message: the daemonized QEMU process ended before it was up (killed?).");
            }
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid))
            {
                throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed, $"QEMU started but wrote no process id to {pidFile}.");
            }
            return pid;
        }

        /// <summary>The process id in a pid file when that process still runs; null otherwise.</summary>
        public static int? RunningPid(string pidFile)
        {
            try
            {
                if (!File.Exists(pidFile)) return null;
                if (!int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid)) return null;
                return ProcessProbe.IsAlive(pid) ? pid : (int?)null;
            }
            catch (IOException)
            {
                return null;
            }
        }

        public static void EnsurePrivateDirectory(string path)
        {
            Directory.CreateDirectory(path);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
    }
}
