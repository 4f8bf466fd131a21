using System.Collections.Generic;
using System.Globalization;
using System.Text.Json.Nodes;
using ColoPS.Colo;
using Ids = ColoPS.Qemu.QemuCommandLine.Ids;

namespace ColoPS.Qemu
{
    /// <summary>
    /// How a pair's TLS section turns into QEMU options. Every QEMU gets both credentials and the
    /// authz object from its command line, whatever its role: roles swap at failover, and objects
    /// made later over QMP would be one more step that can fail in the middle of one.
    /// </summary>
    public static class QemuTls
    {
        /// <summary>The -object arguments of a site's QEMU; empty when TLS is off.</summary>
        public static IEnumerable<string> Objects(ColoConfig config, ColoSite site, QemuFeatures? features = null)
        {
            if (config.Tls == null) yield break;
            var own = config.Tls.GetSite(site)!;
            var peer = config.Tls.GetSite(ColoConfig.Other(site))!;
            // verify-peer on both: the server demands a client certificate (authz has nothing to
            // check without one), the client checks the server's against the CA and its address.
            yield return "-object";
            yield return $"tls-creds-x509,id={Ids.TlsServer},dir={own.CertificateDirectory},endpoint=server,verify-peer=on";
            yield return "-object";
            yield return $"tls-creds-x509,id={Ids.TlsClient},dir={own.CertificateDirectory},endpoint=client,verify-peer=on";
            yield return "-object";
            yield return $"authz-simple,id={Ids.TlsAuthz},identity={Escape(peer.ClientIdentity)}";
            foreach (var arg in ManagementMonitor(config, site, features)) yield return arg;
        }

        /// <summary>
        /// The remote QMP monitor: a listening TLS socket on the management address that admits the
        /// operators' certificates only, with the same server credentials as the COLO links.
        /// </summary>
        public static IEnumerable<string> ManagementMonitor(ColoConfig config, ColoSite site, QemuFeatures? features = null)
        {
            var m = config.GetSite(site).Management;
            if (m == null || config.Tls == null) yield break;
            var rules = new JsonArray();
            foreach (var id in config.Tls.OperatorIdentities) rules.Add(new JsonObject { ["match"] = id, ["policy"] = "allow", ["format"] = "exact" });
            // JSON: authz-list's rules are a list, which the key=value syntax cannot carry.
            yield return "-object";
            yield return new JsonObject { ["qom-type"] = "authz-list", ["id"] = Ids.ManagementAuthz, ["policy"] = "deny", ["rules"] = rules }.ToJsonString();
            yield return "-chardev";
            yield return string.Format(CultureInfo.InvariantCulture, "socket,id={0},host={1},port={2},server=on,wait=off,tls-creds={3},tls-authz={4}",
                Ids.ManagementChardev, m.Address, m.Port, Ids.TlsServer, Ids.ManagementAuthz);
            if (features != null && features.MonitorObjects)
            {
                yield return "-object";
                yield return $"monitor-qmp,id={Ids.ManagementMonitor},chardev={Ids.ManagementChardev}";
            }
            else
            {
                yield return "-mon";
                yield return $"chardev={Ids.ManagementChardev},mode=control";
            }
        }

        /// <summary>Appended to a listening socket chardev that the peer connects to (mirror0, compare1).</summary>
        public static string ServerChardevSuffix(ColoConfig config)
            => config.Tls == null ? string.Empty : $",tls-creds={Ids.TlsServer},tls-authz={Ids.TlsAuthz}";

        /// <summary>Appended to a socket chardev that connects to the peer (red0, red1).</summary>
        public static string ClientChardevSuffix(ColoConfig config)
            => config.Tls == null ? string.Empty : $",tls-creds={Ids.TlsClient}";

        /// <summary>Adds the TLS members to a listening chardev-add's socket data.</summary>
        public static void AddServer(ColoConfig config, JsonObject socketData)
        {
            if (config.Tls == null) return;
            socketData["tls-creds"] = Ids.TlsServer;
            socketData["tls-authz"] = Ids.TlsAuthz;
        }

        /// <summary>The drive_add option that makes the replication NBD client speak TLS (the hostname checked is file.host).</summary>
        public static string NbdClientOption(ColoConfig config)
            => config.Tls == null ? string.Empty : $",file.tls-creds={Ids.TlsClient}";

        /// <summary>
        /// drive-mirror's target. QEMU's nbd:// URI has no way to name TLS credentials ("No valid URL
        /// specified" on 11.1.3), but a json: filename holding the nbd options does, and keeps the
        /// target node owned by the job: it goes when the job ends, so no roll-back has to find it.
        /// </summary>
        public static string MirrorTarget(ColoConfig config, ColoSiteConfig secondary)
        {
            if (config.Tls == null)
                return string.Format(CultureInfo.InvariantCulture, "nbd://{0}:{1}/{2}", QemuCommandLine.Host(secondary.Address), config.Ports.Nbd, Ids.NbdExport);
            var nbd = new JsonObject
            {
                ["driver"] = "nbd",
                ["server"] = new JsonObject { ["type"] = "inet", ["host"] = secondary.Address, ["port"] = config.Ports.Nbd.ToString(CultureInfo.InvariantCulture) },
                ["export"] = Ids.NbdExport,
                ["tls-creds"] = Ids.TlsClient,
            };
            // format=raw puts a raw node on top; the nbd options belong to its file child.
            return "json:" + new JsonObject { ["file"] = nbd }.ToJsonString();
        }

        // QemuOpts ends a value at a comma unless it is doubled; DNs are full of them.
        private static string Escape(string value) => value.Replace(",", ",,", System.StringComparison.Ordinal);
    }
}
