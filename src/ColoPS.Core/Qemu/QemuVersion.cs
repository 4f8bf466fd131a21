using System;
using System.Globalization;

namespace ColoPS.Qemu
{
    /// <summary>A QEMU version as QMP reports it (query-version / the greeting).</summary>
    public sealed class QemuVersion : IComparable<QemuVersion>, IEquatable<QemuVersion>
    {
        public QemuVersion(int major, int minor, int micro, string package = "")
        {
            Major = major;
            Minor = minor;
            Micro = micro;
            Package = package ?? string.Empty;
        }

        public int Major { get; }
        public int Minor { get; }
        public int Micro { get; }
        /// <summary>Distribution suffix, e.g. "Debian 1:7.2+dfsg-7+deb12u18".</summary>
        public string Package { get; }

        public static QemuVersion Parse(string text)
        {
            if (!TryParse(text, out var v)) throw new FormatException($"'{text}' is not a QEMU version (major.minor.micro).");
            return v!;
        }

        /// <summary>Reads "7.2.19" or the first line of `qemu-system-x86_64 --version`.</summary>
        public static bool TryParse(string? text, out QemuVersion? version)
        {
            version = null;
            if (string.IsNullOrWhiteSpace(text)) return false;
            var m = System.Text.RegularExpressions.Regex.Match(text, @"(\d+)\.(\d+)(?:\.(\d+))?(?:\s*\(([^)]*)\))?");
            if (!m.Success) return false;
            version = new QemuVersion(
                int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
                int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
                m.Groups[3].Success ? int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) : 0,
                m.Groups[4].Success ? m.Groups[4].Value : string.Empty);
            return true;
        }

        public bool IsAtLeast(int major, int minor, int micro = 0) => CompareTo(new QemuVersion(major, minor, micro)) >= 0;

        public int CompareTo(QemuVersion? other)
        {
            if (other is null) return 1;
            int c = Major.CompareTo(other.Major);
            if (c != 0) return c;
            c = Minor.CompareTo(other.Minor);
            return c != 0 ? c : Micro.CompareTo(other.Micro);
        }

        public bool Equals(QemuVersion? other) => other is not null && CompareTo(other) == 0;
        public override bool Equals(object? obj) => Equals(obj as QemuVersion);
        public override int GetHashCode() => (Major * 1000 + Minor) * 1000 + Micro;
        public override string ToString() => string.Format(CultureInfo.InvariantCulture, "{0}.{1}.{2}", Major, Minor, Micro);
    }
}
