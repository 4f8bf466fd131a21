using System.Collections.Generic;
using System.Linq;
using ColoPS.Qemu;

namespace ColoPS.Colo
{
    /// <summary>
    /// The QEMU invocation ColoPS runs for one side of a pair: for an operator who starts QEMU with
    /// their own tooling (a systemd unit, a wrapper) and then hands it to Start-ColoPrimary -Session,
    /// or who wants to see exactly what runs.
    /// </summary>
    public sealed class ColoCommandLine
    {
        public ColoCommandLine(ColoConfig config, ColoSite site, ColoRole role, string binary, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, QemuVersion version, ColoAccelerator accelerator)
        {
            ConfigName = config.Name;
            Site = site;
            Role = role;
            Binary = binary;
            Arguments = arguments.ToArray();
            Environment = environment;
            QemuVersion = version;
            Accelerator = accelerator;
            QmpSocketPath = config.QmpSocketOf(site);
            PidFilePath = config.PidFileOf(site);
            CommandLine = string.Join(" ",
                Environment.OrderBy(p => p.Key, System.StringComparer.Ordinal).Select(p => p.Key + "=" + ShellQuote(p.Value))
                    .Append(ShellQuote(Binary))
                    .Concat(Arguments.Select(ShellQuote)));
        }

        public string ConfigName { get; }
        public ColoSite Site { get; }
        public ColoRole Role { get; }
        public string Binary { get; }
        public string[] Arguments { get; }
        /// <summary>Variables QEMU needs besides the caller's (QEMU_MODULE_DIR for a QEMU outside its install prefix).</summary>
        public IReadOnlyDictionary<string, string> Environment { get; }
        public QemuVersion QemuVersion { get; }
        public ColoAccelerator Accelerator { get; }
        public string QmpSocketPath { get; }
        public string PidFilePath { get; }
        /// <summary>The whole invocation as one line a POSIX shell runs as is: every word that needs it single-quoted.</summary>
        public string CommandLine { get; }

        public override string ToString() => CommandLine;

        public static string ShellQuote(string word)
        {
            if (word.Length > 0 && word.All(c => char.IsLetterOrDigit(c) || "-_./=:,@%+".IndexOf(c) >= 0)) return word;
            return "'" + word.Replace("'", "'\\''") + "'";
        }
    }
}
