using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace ColoPS.Colo
{
    /// <summary>
    /// Which of this host's files a validation looks into. A configuration describes a pair that
    /// lives on two hosts and may be read on a third (an operator's, with neither QEMU nor a site's
    /// keys): what only a host that starts a site needs (its QEMU programs, the base image, its
    /// certificate folder) is checked when that site starts, not when the file is read.
    /// </summary>
    public sealed class ColoHostFiles
    {
        private ColoHostFiles(bool programs, IReadOnlyList<ColoSite> certificateFolders)
        {
            Programs = programs;
            CertificateFolders = certificateFolders;
        }

        /// <summary>The QEMU binary, qemu-img and the base disk image (Vm.DiskImage).</summary>
        public bool Programs { get; }

        /// <summary>The sites whose certificate folder must hold the key files QEMU reads.</summary>
        public IReadOnlyList<ColoSite> CertificateFolders { get; }

        /// <summary>The configuration's shape only (the guard, a node already attached, certificates being made).</summary>
        public static ColoHostFiles None { get; } = new ColoHostFiles(false, Array.Empty<ColoSite>());

        /// <summary>A host about to start this site's QEMU.</summary>
        public static ColoHostFiles StartingSite(ColoSite site) => new ColoHostFiles(true, new[] { site });

        /// <summary>
        /// This site's QEMU already runs on this host (a session to its local monitor): no program
        /// is started here, but the QEMU reads its certificate folder from this host.
        /// </summary>
        public static ColoHostFiles RunningSite(ColoSite site) => new ColoHostFiles(false, new[] { site });

        /// <summary>
        /// Any host reading the pair's configuration (a site's or an operator's): the certificate
        /// folders it holds are checked whole; a folder that is not here belongs to another host.
        /// </summary>
        public static ColoHostFiles HeldHere(ColoConfig config)
        {
            var held = new List<ColoSite>();
            foreach (var site in new[] { ColoSite.A, ColoSite.B })
            {
                var dir = config.Tls?.GetSite(site)?.CertificateDirectory;
                if (!string.IsNullOrEmpty(dir) && Directory.Exists(dir)) held.Add(site);
            }
            return new ColoHostFiles(false, held);
        }

        public bool ChecksFolderOf(ColoSite site) => CertificateFolders.Contains(site);

        public override string ToString()
            => (Programs ? "programs, " : string.Empty) + (CertificateFolders.Count == 0 ? "no certificate folder" : "certificate folders of " + string.Join(" and ", CertificateFolders));
    }
}
