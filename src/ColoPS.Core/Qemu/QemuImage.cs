using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using ColoPS.Colo;

namespace ColoPS.Qemu
{
    /// <summary>qemu-img: create disks and overlays, read their virtual size.</summary>
    public sealed class QemuImage
    {
        private readonly string _binary;

        public QemuImage(string binary)
        {
            _binary = QemuBinary.Resolve(binary) ?? throw new ColoException("QemuImgNotFound", ColoErrorKind.ObjectNotFound, $"'{binary}' was not found (install qemu-utils).");
        }

        public async Task CreateAsync(string path, long sizeBytes, CancellationToken cancellationToken)
        {
            var args = new[] { "create", "-q", "-f", "qcow2", path, sizeBytes.ToString(CultureInfo.InvariantCulture) };
            var r = await ProcessRunner.RunAsync(_binary, args, null, TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false);
            if (r.ExitCode != 0)
                throw new ColoException("DiskCreateFailed", ColoErrorKind.ProcessFailed, $"qemu-img could not create {path}: {r.StandardError.Trim()}");
        }

        /// <summary>The guest-visible size. Overlays must match it exactly: a mismatch looks valid and corrupts silently.</summary>
        public async Task<long> GetVirtualSizeAsync(string path, CancellationToken cancellationToken)
        {
            // -U: the image may be open in a running QEMU.
            var r = await ProcessRunner.RunAsync(_binary, new[] { "info", "-U", "--output=json", path }, null, TimeSpan.FromMinutes(1), cancellationToken).ConfigureAwait(false);
            if (r.ExitCode != 0)
                throw new ColoException("DiskInfoFailed", ColoErrorKind.ProcessFailed, $"qemu-img could not read {path}: {r.StandardError.Trim()}");
            using var doc = JsonDocument.Parse(r.StandardOutput);
            return doc.RootElement.GetProperty("virtual-size").GetInt64();
        }

        public static async Task CopyAsync(string source, string destination, CancellationToken cancellationToken)
        {
            var temp = destination + ".partial";
            using (var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true))
            using (var to = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                await from.CopyToAsync(to, 1 << 20, cancellationToken).ConfigureAwait(false);
            }
            File.Move(temp, destination, overwrite: true);
        }
    }
}
