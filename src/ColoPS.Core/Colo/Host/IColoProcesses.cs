using System;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Colo.Host
{
    /// <summary>What the operations do with host processes by id: the seam unit tests replace.</summary>
    public interface IColoProcesses
    {
        bool IsAlive(int pid);
        /// <summary>Stopped (SIGSTOP): alive, but it will never answer.</summary>
        bool IsFrozen(int pid);
        bool CommandLineContains(int pid, string text);
        /// <summary>When the process started (any monotonic unit); null when it is gone. A pid and its start time name one process.</summary>
        long? StartTime(int pid);
        /// <summary>SIGKILL, then waits until the process is gone; false when it still exists after the timeout.</summary>
        Task<bool> KillAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken);
        /// <summary>Waits until the process is gone; false on timeout.</summary>
        Task<bool> WaitForExitAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken);
    }
}
