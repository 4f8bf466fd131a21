using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// Which of a survivor's mirror and compare sockets hold a connection that is not the new
    /// secondary's. QEMU 11.1.3 never reads a chardev that has no filter yet, so a peer that
    /// connected and left stays "connected" and the listener takes nobody else. Renewing a socket
    /// the new secondary is already on would be as bad: its red1 is only written to, so it would
    /// never see the close and never dial again. So only a connection known not to be the
    /// secondary's is renewed.
    /// </summary>
    public static class StalePeerSockets
    {
        /// <param name="survivorChardevs">The survivor's query-chardev answer.</param>
        /// <param name="secondaryChardevs">The new secondary's query-chardev answer, when its session is known: a connection is its own when the survivor's peer is the secondary's local end.</param>
        /// <param name="closedByPeer">Without the secondary's answer: whether the survivor's connection from (local port, peer port) was closed by the peer (TCP CLOSE-WAIT); null when that cannot be read.</param>
        public static IReadOnlyList<string> Find(ColoConfig config, JsonElement survivorChardevs, JsonElement? secondaryChardevs, Func<int, int, bool?> closedByPeer)
        {
            var stale = new List<string>();
            foreach (var (id, secondaryId, port) in new[] { (Ids.Mirror, Ids.SecondaryMirrorChardev, config.Ports.Mirror), (Ids.Compare, Ids.SecondaryCompareChardev, config.Ports.Compare) })
            {
                var peer = ChardevFilename.Peer(FilenameOf(survivorChardevs, id));
                if (peer == null) continue;
                if (secondaryChardevs.HasValue)
                {
                    if (!string.Equals(ChardevFilename.Local(FilenameOf(secondaryChardevs.Value, secondaryId)), peer, StringComparison.Ordinal)) stale.Add(id);
                }
                else if (PortOf(peer) is int peerPort && closedByPeer(port, peerPort) == true)
                {
                    stale.Add(id);
                }
            }
            return stale;
        }

        /// <summary>
        /// Reads /proc/&lt;pid&gt;/net/tcp and tcp6 (the QEMU's own network namespace): true when the
        /// connection between the two ports is in CLOSE-WAIT, false when it is there in another
        /// state, null when it is not found or the files cannot be read.
        /// </summary>
        public static bool? ClosedByPeer(int processId, int localPort, int peerPort)
        {
            if (processId <= 0) return null;
            foreach (var name in new[] { "tcp", "tcp6" })
            {
                string text;
                try { text = File.ReadAllText($"/proc/{processId}/net/{name}"); }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { continue; }
                if (StateIn(text, localPort, peerPort) is string state) return state == CloseWait;
            }
            return null;
        }

        private const string CloseWait = "08";

        /// <summary>The st column of the line of a /proc/net/tcp table joining the two ports; null when there is none.</summary>
        public static string? StateIn(string table, int localPort, int peerPort)
        {
            foreach (var line in table.Split('\n'))
            {
                var cols = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (cols.Length < 4 || !cols[0].EndsWith(':')) continue;
                if (HexPort(cols[1]) == localPort && HexPort(cols[2]) == peerPort) return cols[3];
            }
            return null;
        }

        private static int? HexPort(string endpoint)
        {
            int colon = endpoint.LastIndexOf(':');
            return colon >= 0 && int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var p) ? p : null;
        }

        private static string? FilenameOf(JsonElement chardevs, string label)
        {
            if (chardevs.ValueKind != JsonValueKind.Array) return null;
            foreach (var c in chardevs.EnumerateArray())
                if (Json.Str(c, "label") == label) return Json.Str(c, "filename");
            return null;
        }

        private static int? PortOf(string endpoint)
        {
            int colon = endpoint.LastIndexOf(':');
            return colon >= 0 && int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : null;
        }
    }
}
