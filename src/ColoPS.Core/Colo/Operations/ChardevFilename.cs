using System;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// The ends of a connected socket chardev, from its query-chardev filename:
    /// "tcp:127.0.0.1:9003,server=on &lt;-&gt; 127.0.0.2:40000" (this end, its options, the peer).
    /// </summary>
    internal static class ChardevFilename
    {
        private const string Arrow = "<->";

        /// <summary>The peer's address:port; null when nothing is connected.</summary>
        public static string? Peer(string? filename)
        {
            if (filename == null) return null;
            int arrow = filename.IndexOf(Arrow, StringComparison.Ordinal);
            return arrow < 0 ? null : filename.Substring(arrow + Arrow.Length).Trim();
        }

        /// <summary>This end's address:port, without the transport and options; null when nothing is connected.</summary>
        public static string? Local(string? filename)
        {
            if (filename == null) return null;
            int arrow = filename.IndexOf(Arrow, StringComparison.Ordinal);
            if (arrow < 0 || !filename.StartsWith("tcp:", StringComparison.Ordinal)) return null;
            var local = filename.Substring(4, arrow - 4).Trim();
            int comma = local.IndexOf(',');
            return comma < 0 ? local : local.Substring(0, comma);
        }
    }
}
