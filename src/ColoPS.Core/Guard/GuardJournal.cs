using System;
using System.IO;
using System.Text.Json;

namespace ColoPS.Guard
{
    /// <summary>
    /// Where a guard leaves its trail: each decision appended as one JSON line to the log, and the
    /// latest tick in a state file next to the site's QMP socket, which Get-ColoGuardStatus reads
    /// from any process (the guard holds QEMU's only monitor, so nothing else can ask QEMU).
    /// </summary>
    public sealed class GuardJournal : IDisposable
    {
        private static readonly JsonSerializerOptions s_json = new() { WriteIndented = false };
        private readonly StreamWriter? _log;
        private readonly string _statePath;

        public GuardJournal(string statePath, string? logPath)
        {
            _statePath = statePath;
            if (logPath != null)
            {
                var dir = Path.GetDirectoryName(Path.GetFullPath(logPath));
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
                _log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
            }
        }

        public void Append(GuardRecord record) => _log?.WriteLine(JsonSerializer.Serialize(record, s_json));

        public void WriteState(GuardState state)
        {
            // Write then rename: a reader never sees half a file.
            var temp = _statePath + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(state, s_json));
            File.Move(temp, _statePath, overwrite: true);
        }

        public static GuardState? ReadState(string path)
        {
            try { return JsonSerializer.Deserialize<GuardState>(File.ReadAllText(path)); }
            catch (Exception e) when (e is IOException || e is JsonException || e is UnauthorizedAccessException) { return null; }
        }

        public void Dispose() => _log?.Dispose();
    }

    /// <summary>The state file: the last decision and the epochs, so a restarted guard knows which epoch its QEMU joined in.</summary>
    public sealed record GuardState
    {
        public GuardRecord? Last { get; init; }
        public DateTimeOffset UpdatedAt { get; init; }
        public bool Running { get; init; }
        public GuardEpochs Epochs { get; init; } = new();
        /// <summary>The lease the guard held, so a guard restarted within its TTL goes on with it instead of losing the owner key.</summary>
        public long LeaseId { get; init; }
    }
}
