using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Qemu
{
    /// <summary>What the host knows about a process by its id.</summary>
    public static class ProcessProbe
    {
        public static bool IsAlive(int pid)
        {
            if (pid <= 0) return false;
            // /proc/<pid>/stat state Z: exited but not yet reaped; it will never answer again.
            var state = State(pid);
            if (state != null) return state != 'Z' && state != 'X';
            try
            {
                using var p = Process.GetProcessById(pid);
                return !p.HasExited;
            }
            catch (ArgumentException) { return false; }
            catch (InvalidOperationException) { return false; }
        }

        /// <summary>True when /proc/&lt;pid&gt;/cmdline contains <paramref name="text"/> in one of its arguments.</summary>
        public static bool CommandLineContains(int pid, string text)
        {
            try
            {
                foreach (var arg in File.ReadAllText($"/proc/{pid}/cmdline").Split('\0'))
                    if (arg.Contains(text, StringComparison.Ordinal)) return true;
                return false;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                return false;
            }
        }

        /// <summary>
        /// When the process started, in clock ticks since boot (/proc/&lt;pid&gt;/stat field 22); null
        /// when it is gone. With the pid it names one process for good: a reused pid starts later.
        /// </summary>
        public static long? StartTime(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                int close = stat.LastIndexOf(')');
                if (close < 0) return null;
                // Fields after the command name, which may hold spaces: state is field 3, starttime 22.
                var rest = stat.Substring(close + 2).Split(' ');
                return rest.Length > 19 && long.TryParse(rest[19], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long t) ? t : null;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                return null;
            }
        }

        /// <summary>True when the process is stopped (SIGSTOP): alive but unable to answer.</summary>
        public static bool IsFrozen(int pid) => State(pid) == 'T';

        private static char? State(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                int close = stat.LastIndexOf(')');
                return close > 0 && close + 2 < stat.Length ? stat[close + 2] : (char?)null;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                return null;
            }
        }

        /// <summary>SIGKILL, then waits for the process to be gone, at most <paramref name="timeout"/>.</summary>
        public static Task<bool> KillAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            try
            {
                using (var p = Process.GetProcessById(pid)) p.Kill();
            }
            catch (ArgumentException) { return Task.FromResult(true); }
            catch (InvalidOperationException) { return Task.FromResult(true); }
            return WaitForExitAsync(pid, timeout, cancellationToken);
        }

        /// <summary>Waits until the process is gone; false on timeout. Cancelling ends the wait (OperationCanceledException).</summary>
        public static async Task<bool> WaitForExitAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            // A QEMU that ColoPS started daemonized is not its child: there is no exit notification
            // to await, only /proc to look at.
            var clock = Stopwatch.StartNew();
            while (IsAlive(pid))
            {
                if (clock.Elapsed > timeout) return false;
                await Task.Delay(s_poll, cancellationToken).ConfigureAwait(false);
            }
            // Exited; give its parent a moment to reap it, so callers do not see a zombie entry.
            var reap = Stopwatch.StartNew();
            while (Directory.Exists($"/proc/{pid}") && reap.Elapsed < s_reapGrace) await Task.Delay(s_poll, cancellationToken).ConfigureAwait(false);
            return true;
        }

        private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(20);
        private static readonly TimeSpan s_reapGrace = TimeSpan.FromSeconds(2);
    }
}
