using System;
using System.IO;
using System.Linq;
using ColoPS.Colo;
using ColoPS.Tests.Fakes;
using Xunit;

namespace ColoPS.Tests.Colo
{
    /// <summary>
    /// What each host looks into: a site's host checks its own programs and keys when it starts
    /// the site; any host (an operator's with neither) can read the pair's configuration.
    /// </summary>
    public sealed class ColoHostFilesTests : IDisposable
    {
        private readonly string _root = Path.Combine(Path.GetTempPath(), "colops-hostfiles-" + Guid.NewGuid().ToString("N").Substring(0, 8));

        public void Dispose()
        {
            if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
        }

        /// <summary>A pair with TLS whose programs and base image are not on this host; site folders made on demand.</summary>
        private ColoConfig Pair(bool holdA, bool holdB)
        {
            var c = ColoPlansTests.Config();
            c.Qemu.Binary = "/nonexistent/qemu-system-x86_64";
            c.Qemu.ImgBinary = "qemu-img-nowhere";
            c.Vm.DiskImage = "/nonexistent/base.qcow2";
            c.Tls = new ColoTlsConfig
            {
                SiteA = new ColoTlsSiteConfig { CertificateDirectory = Path.Combine(_root, "A"), ClientIdentity = "CN=a-client" },
                SiteB = new ColoTlsSiteConfig { CertificateDirectory = Path.Combine(_root, "B"), ClientIdentity = "CN=b-client" },
            };
            if (holdA) TestCertificates.WriteSiteFolder(c.Tls.SiteA.CertificateDirectory, "CN=a-client", c.SiteA.Address);
            if (holdB) TestCertificates.WriteSiteFolder(c.Tls.SiteB.CertificateDirectory, "CN=b-client", c.SiteB.Address);
            return c;
        }

        private static string[] Ids(ColoConfig c, ColoHostFiles files) => ColoConfigValidator.Validate(c, files).Select(p => p.ErrorId + "@" + p.Field).ToArray();

        [Fact]
        public void An_operator_host_with_no_QEMU_and_no_site_folder_reads_the_pair()
        {
            var c = Pair(holdA: false, holdB: false);
            var files = ColoHostFiles.HeldHere(c);
            Assert.False(files.Programs);
            Assert.Empty(files.CertificateFolders);
            Assert.Empty(Ids(c, files));
        }

        [Fact]
        public void Starting_a_site_there_is_still_refused_for_its_programs_image_and_keys()
        {
            var c = Pair(holdA: false, holdB: false);
            var ids = Ids(c, ColoHostFiles.StartingSite(ColoSite.B));
            Assert.Contains("ColoConfigBinaryNotFound@Qemu.Binary", ids);
            Assert.Contains("ColoConfigBinaryNotFound@Qemu.ImgBinary", ids);
            Assert.Contains("ColoConfigDiskImageNotFound@Vm.DiskImage", ids);
            Assert.Contains("ColoConfigTlsFileMissing@Tls.SiteB.CertificateDirectory", ids);
            Assert.DoesNotContain(ids, id => id.Contains("Tls.SiteA", StringComparison.Ordinal));
        }

        [Fact]
        public void A_sites_host_checks_the_folder_it_holds_and_not_the_others()
        {
            var c = Pair(holdA: false, holdB: true);
            Assert.Equal(new[] { ColoSite.B }, ColoHostFiles.HeldHere(c).CertificateFolders);
            Assert.Empty(Ids(c, ColoHostFiles.HeldHere(c)));
            Assert.DoesNotContain(Ids(c, ColoHostFiles.StartingSite(ColoSite.B)), id => id.StartsWith("ColoConfigTls", StringComparison.Ordinal));
            // Site A's QEMU cannot start here: its keys are on the other host.
            Assert.Contains("ColoConfigTlsFileMissing@Tls.SiteA.CertificateDirectory", Ids(c, ColoHostFiles.StartingSite(ColoSite.A)));
        }

        [Fact]
        public void A_held_folder_is_checked_whole_at_import()
        {
            var c = Pair(holdA: true, holdB: true);
            File.Delete(Path.Combine(c.Tls!.SiteA!.CertificateDirectory, "client-key.pem"));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(c.Tls.SiteB!.CertificateDirectory, "server-key.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var files = ColoHostFiles.HeldHere(c);
            Assert.Equal(new[] { ColoSite.A, ColoSite.B }, files.CertificateFolders);
            var ids = Ids(c, files);
            Assert.Contains("ColoConfigTlsFileMissing@Tls.SiteA.CertificateDirectory", ids);
            if (!OperatingSystem.IsWindows()) Assert.Contains("ColoConfigTlsKeyExposed@Tls.SiteB.CertificateDirectory", ids);
            Assert.DoesNotContain(ids, id => id.StartsWith("ColoConfigBinaryNotFound", StringComparison.Ordinal));
        }

        [Fact]
        public void A_QEMU_already_running_here_needs_its_keys_but_no_program()
        {
            var c = Pair(holdA: false, holdB: false);
            var ids = Ids(c, ColoHostFiles.RunningSite(ColoSite.A));
            Assert.Equal(new[] { "ColoConfigTlsFileMissing@Tls.SiteA.CertificateDirectory" }, ids.Distinct().ToArray());
        }

        [Fact]
        public void What_any_host_can_judge_is_still_refused_on_an_operator_host()
        {
            // Half a TLS setup, an address for every interface and a duplicate port: the shape.
            var c = Pair(holdA: false, holdB: false);
            c.Tls!.SiteB = null;
            c.SiteA.Address = "0.0.0.0";
            c.Ports.Nbd = c.Ports.Migration;
            var ids = Ids(c, ColoHostFiles.HeldHere(c));
            Assert.Contains("ColoConfigTlsIncomplete@Tls.SiteB", ids);
            Assert.Contains("ColoConfigInvalidAddress@SiteA.Address", ids);
            Assert.Contains("ColoConfigDuplicatePort@Ports", ids);
            Assert.DoesNotContain(ids, id => id.StartsWith("ColoConfigBinaryNotFound", StringComparison.Ordinal) || id.StartsWith("ColoConfigDiskImageNotFound", StringComparison.Ordinal));
        }

        [Fact]
        public void Without_TLS_no_folder_is_held()
        {
            var c = ColoPlansTests.Config();
            Assert.Empty(ColoHostFiles.HeldHere(c).CertificateFolders);
            Assert.Empty(ColoConfigValidator.Validate(c, ColoHostFiles.HeldHere(c)));
        }
    }
}
