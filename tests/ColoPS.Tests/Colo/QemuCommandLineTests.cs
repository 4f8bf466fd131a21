using System.Linq;
using ColoPS.Colo;
using ColoPS.Qemu;
using Xunit;

namespace ColoPS.Tests.Colo
{
    public class QemuCommandLineTests
    {
        private static readonly QemuVersion V72 = new QemuVersion(7, 2, 22);
        private static readonly QemuVersion V92 = new QemuVersion(9, 2, 0);

        [Fact]
        public void Primary_binds_every_listener_to_its_site_address_never_the_wildcard()
        {
            var args = QemuCommandLine.Primary(ColoPlansTests.Config(), ColoSite.A, V72, ColoAccelerator.Tcg);
            var joined = string.Join(" ", args);
            Assert.DoesNotContain("0.0.0.0", joined);
            Assert.Contains("socket,id=mirror0,host=127.0.0.1,port=9003,server=on,wait=off", args);
            Assert.Contains("socket,id=compare1,host=127.0.0.1,port=9004,server=on,wait=off", args);
            Assert.Contains("socket,id=compare0-0,host=127.0.0.1,port=9001", args);
            Assert.Contains("unix:/tmp/colo-a/demo.qmp,server=on,wait=off", args);
            Assert.Contains("-S", args);
            Assert.Contains("-daemonize", args);
        }

        [Fact]
        public void Secondary_connects_to_the_primary_and_listens_on_its_own_address()
        {
            var args = QemuCommandLine.Secondary(ColoPlansTests.Config(), ColoSite.B, V72, ColoAccelerator.Tcg);
            Assert.Contains("socket,id=red0,host=127.0.0.1,port=9003,reconnect=1", args);
            Assert.Contains("tcp:127.0.0.2:9998", args);
            Assert.DoesNotContain("0.0.0.0", string.Join(" ", args));
            Assert.Contains(args, a => a.StartsWith("if=none,id=childs0,driver=replication,mode=secondary") && a.Contains("file.file.filename=/tmp/colo-b/demo-active.qcow2") && a.Contains("file.backing.file.filename=/tmp/colo-b/demo-hidden.qcow2"));
        }

        [Fact]
        public void Both_sides_log_to_their_work_directory_so_a_daemonized_QEMU_keeps_its_messages()
        {
            foreach (var (site, args) in new[]
            {
                (ColoSite.A, QemuCommandLine.Primary(ColoPlansTests.Config(), ColoSite.A, V72, ColoAccelerator.Tcg)),
                (ColoSite.B, QemuCommandLine.Secondary(ColoPlansTests.Config(), ColoSite.B, V72, ColoAccelerator.Tcg)),
            })
            {
                int i = args.ToList().IndexOf("-D");
                Assert.True(i >= 0, "no -D on " + site);
                Assert.Equal(site == ColoSite.A ? "/tmp/colo-a/demo.log" : "/tmp/colo-b/demo.log", args[i + 1]);
            }
        }

        [Fact]
        public void ColoCommandLine_quotes_for_a_posix_shell_only_what_needs_it()
        {
            Assert.Equal("romfile=", ColoCommandLine.ShellQuote("romfile="));
            Assert.Equal("'a b'", ColoCommandLine.ShellQuote("a b"));
            Assert.Equal("''", ColoCommandLine.ShellQuote(""));
            Assert.Equal("'console=ttyS0 it'\\''s'", ColoCommandLine.ShellQuote("console=ttyS0 it's"));
            Assert.Equal("'$HOME'", ColoCommandLine.ShellQuote("$HOME"));
        }

        [Fact]
        public void Accelerator_and_nic_without_option_rom()
        {
            var args = QemuCommandLine.Secondary(ColoPlansTests.Config(), ColoSite.B, V92, ColoAccelerator.Kvm).ToList();
            Assert.Equal("kvm", args[args.IndexOf("-accel") + 1]);
            Assert.Contains("rtl8139,id=e0,netdev=hn0,romfile=", args);
        }

        [Fact]
        public void Both_sides_get_the_configured_mac_address()
        {
            var c = ColoPlansTests.Config();
            c.Vm.MacAddress = "52:54:00:AB:01:02";
            Assert.Contains("rtl8139,id=e0,netdev=hn0,romfile=,mac=52:54:00:ab:01:02", QemuCommandLine.Primary(c, ColoSite.A, V92, ColoAccelerator.Tcg));
            Assert.Contains("rtl8139,id=e0,netdev=hn0,romfile=,mac=52:54:00:ab:01:02", QemuCommandLine.Secondary(c, ColoSite.B, V92, ColoAccelerator.Tcg));
        }

        [Fact]
        public void Version_parses_the_binary_banner()
        {
            Assert.True(QemuVersion.TryParse("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", out var v));
            Assert.Equal("7.2.22", v!.ToString());
            Assert.Equal("Debian 1:7.2+dfsg-7+deb12u18+b3", v.Package);
        }
    }
}
