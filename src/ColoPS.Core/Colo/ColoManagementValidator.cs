using System;
using System.Linq;
using System.Net;

namespace ColoPS.Colo
{
    /// <summary>
    /// The remote-monitor half of ColoConfigValidator. One site with a remote monitor and one
    /// without leaves a pwsh elsewhere driving half a pair; a monitor without TLS or without anyone
    /// allowed in is either open to the network or closed to everyone. All refused before a start.
    /// </summary>
    internal static class ColoManagementValidator
    {
        /// <param name="complete">
        /// False while the configuration is still being made (New-ColoConfig): the monitors' addresses
        /// come before the certificates, because New-ColoCertificate writes them into the sites'
        /// certificates. Every start checks with true.
        /// </param>
        public static void Validate(ColoConfig config, bool complete, Action<string, string, string> add, Func<string, string, IPAddress?> checkAddress)
        {
            var a = config.SiteA?.Management;
            var b = config.SiteB?.Management;
            if (a == null && b == null) return;
            if (a == null || b == null)
            {
                add("ColoConfigManagementIncomplete", a == null ? "SiteA.Management" : "SiteB.Management",
                    "Only one site serves a remote QMP monitor; give both sites a Management address and port, or neither.");
            }
            if (config.Tls == null)
            {
                if (complete)
                add("ColoConfigManagementNeedsTls", "Tls", "A remote QMP monitor is served over TLS with client certificates only; add the Tls section (New-ColoCertificate makes it).");
            }
            else
            {
                var ids = config.Tls.OperatorIdentities ?? Array.Empty<string>();
                if (ids.Length == 0 && complete)
                    add("ColoConfigManagementIncomplete", "Tls.OperatorIdentities", "No operator may use the remote QMP monitors; list the subject DN of each operator's client certificate (New-ColoCertificate makes one).");
                foreach (var id in ids) ColoTlsValidator.CheckIdentity(id, "Tls.OperatorIdentities", add);
            }

            var colo = (config.Ports ?? new ColoPortConfig()).All;
            foreach (var (m, field) in new[] { (a, "SiteA.Management"), (b, "SiteB.Management") })
            {
                if (m == null) continue;
                checkAddress(m.Address, field + ".Address");
                if (m.Port < 1 || m.Port > 65535)
                    add("ColoConfigInvalidPort", field + ".Port", $"{m.Port} is not a TCP port (1 to 65535).");
                foreach (var (name, port) in colo.Where(p => p.Port == m.Port))
                    add("ColoConfigDuplicatePort", field + ".Port", $"Port {m.Port} is the COLO port {name} already; the remote monitor needs its own.");
            }
            if (a != null && b != null && a.Port == b.Port && string.Equals(a.Address, b.Address, StringComparison.OrdinalIgnoreCase))
                add("ColoConfigDuplicatePort", "SiteB.Management", $"Both sites' monitors would listen on {a.Address}:{a.Port}.");
        }
    }
}
