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
    /// QEMU's own -daemonize reports start-up failures in its exit code before it detaches. Its
    /// messages go to stderr, or with -D to the log, so a failed start carries them from either.
    /// </summary>
    internal static class QemuLauncher
    {
        // Enough for QEMU's error lines; a log grown by -trace output is not read whole.
        private const int LogTailBytes = 4096;

        public static async Task<int> StartAsync(string binary, IReadOnlyList<string> arguments, string pidFile, string? logFile, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var path = QemuBinary.Resolve(binary) ?? throw new ColoException("QemuBinaryNotFound", ColoErrorKind.ObjectNotFound, $"The QEMU binary '{binary}' was not found.");
            // QEMU truncates its log when it opens it: the last start's log (often the one that
            // explains why that QEMU is gone) is kept beside it.
            if (logFile != null && File.Exists(logFile)) File.Move(logFile, logFile + ".1", overwrite: true);
            var result = await ProcessRunner.RunAsync(path, arguments, environment, timeout, cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                var message = result.StandardError.Trim();
                if (message.Length == 0 && logFile != null) message = ReadTail(logFile);
                throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed,
                    message.Length > 0
                        ? $"QEMU exited with code {result.ExitCode} at start: {message}"
                        // -daemonize: the parent reports failure without a word when its child dies (a kill, an OOM) before it is up.
                        : $"QEMU exited with code {result.ExitCode} at start without a message: the daemonized QEMU process ended before it was up (killed?).");
            }
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int pid))
            {
                throw new ColoException("QemuStartFailed", ColoErrorKind.ProcessFailed, $"QEMU started but wrote no process id to {pidFile}.");
            }
            return pid;
        }

        /// <summary>The end of QEMU's log: its last messages, empty when there is none.</summary>
        public static string ReadTail(string file)
        {
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (stream.Length > LogTailBytes) stream.Seek(-LogTailBytes, SeekOrigin.End);
                using var reader = new StreamReader(stream);
                return reader.ReadToEnd().Trim();
            }
            catch (IOException) { return string.Empty; }
            catch (UnauthorizedAccessException) { return string.Empty; }
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
