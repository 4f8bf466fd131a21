using System;
using System.Diagnostics;
using System.IO;

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

        /// <summary>Kills and waits for the process to be gone, at most <paramref name="timeout"/>.</summary>
        public static bool Kill(int pid, TimeSpan timeout)
        {
            try
            {
                using (var p = Process.GetProcessById(pid)) p.Kill();
                return WaitForExit(pid, timeout);
            }
            catch (ArgumentException) { return true; }
            catch (InvalidOperationException) { return true; }
        }

        /// <summary>Waits until the process is gone; false on timeout. Cancelling ends the wait (OperationCanceledException).</summary>
        public static bool WaitForExit(int pid, TimeSpan timeout, System.Threading.CancellationToken cancellationToken = default)
        {
            var clock = Stopwatch.StartNew();
            while (IsAlive(pid))
            {
                if (clock.Elapsed > timeout) return false;
                cancellationToken.WaitHandle.WaitOne(20);
                cancellationToken.ThrowIfCancellationRequested();
            }
            // Exited; give its parent a moment to reap it, so callers do not see a zombie entry.
            var reap = Stopwatch.StartNew();
            while (Directory.Exists($"/proc/{pid}") && reap.Elapsed < TimeSpan.FromSeconds(2)) System.Threading.Thread.Sleep(20);
            return true;
        }
    }
}
