using System;
using System.Collections.Generic;
using System.Text.Json;
using ColoPS.Qemu;

namespace ColoPS.Qmp
{
    /// <summary>The server's first message: QEMU's version and the capabilities it offers.</summary>
    public sealed class QmpGreeting
    {
        private QmpGreeting(QemuVersion version, IReadOnlyList<string> capabilities)
        {
            Version = version;
            Capabilities = capabilities;
        }

        public QemuVersion Version { get; }
        public IReadOnlyList<string> Capabilities { get; }

        /// <summary>Reads {"QMP":{"version":{"qemu":{major,minor,micro},"package":s},"capabilities":[...]}}; unknown members are ignored.</summary>
        internal static QmpGreeting Parse(JsonElement root)
        {
            if (!root.TryGetProperty("QMP", out var qmp) || qmp.ValueKind != JsonValueKind.Object)
                throw new QmpGreetingException("The first message is not a QMP greeting (no \"QMP\" object): " + Snip(root));
            if (!qmp.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Object
                || !version.TryGetProperty("qemu", out var qemu) || qemu.ValueKind != JsonValueKind.Object)
                throw new QmpGreetingException("The QMP greeting has no version.qemu object: " + Snip(root));
            int major = ReadInt(qemu, "major"), minor = ReadInt(qemu, "minor"), micro = ReadInt(qemu, "micro");
            string package = version.TryGetProperty("package", out var pkg) && pkg.ValueKind == JsonValueKind.String ? pkg.GetString()!.Trim() : string.Empty;

            if (!qmp.TryGetProperty("capabilities", out var caps) || caps.ValueKind != JsonValueKind.Array)
                throw new QmpGreetingException("The QMP greeting has no capabilities array: " + Snip(root));
            var list = new List<string>();
            foreach (var c in caps.EnumerateArray())
            {
                if (c.ValueKind != JsonValueKind.String) throw new QmpGreetingException("A QMP capability is not a string: " + Snip(root));
                list.Add(c.GetString()!);
            }
            return new QmpGreeting(new QemuVersion(major, minor, micro, package), list);
        }

        private static int ReadInt(JsonElement obj, string name)
        {
            if (obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n)) return n;
            throw new QmpGreetingException($"The QMP greeting's version.qemu.{name} is missing or not an integer.");
        }

        private static string Snip(JsonElement e)
        {
            var text = e.GetRawText();
            return text.Length <= 200 ? text : text.Substring(0, 200) + "...";
        }
    }
}
