using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Qemu;

namespace ColoPS.Colo.Host
{
    /// <summary>QEMU and qemu-img as the operations use them, and the files a QEMU leaves at its site.</summary>
    public interface IQemuRuntime
    {
        Task<QemuVersion> GetVersionAsync(string binary, IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken);
        /// <summary>Starts a daemonizing QEMU and returns the pid from its pid file.</summary>
        Task<int> StartAsync(string binary, IReadOnlyList<string> arguments, string pidFile, string? logFile, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken);
        /// <summary>The pid in a pid file while that process runs; null otherwise.</summary>
        int? RunningPid(string pidFile);
        /// <summary>The last part of a QEMU log, empty when there is none.</summary>
        string ReadLogTail(string logFile);

        Task CreateImageAsync(string imgBinary, string path, long sizeBytes, CancellationToken cancellationToken);
        Task<long> GetVirtualSizeAsync(string imgBinary, string path, CancellationToken cancellationToken);
        Task CopyImageAsync(string source, string destination, CancellationToken cancellationToken);

        /// <summary>Creates the folder, readable by its owner only.</summary>
        void EnsurePrivateDirectory(string path);
        bool FileExists(string path);
        /// <summary>Deletes a file if it is there; a file that cannot be deleted is left (best effort).</summary>
        void DeleteFile(string path);
    }
}
