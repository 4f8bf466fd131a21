using System;
using ColoPS.Colo;

namespace ColoPS.Guard
{
    /// <summary>The systemd unit that runs one site's guard.</summary>
    public static class GuardUnit
    {
        public static string Render(string configPath, ColoSite site, string pair, string pwsh = "/usr/bin/pwsh")
        {
            if (configPath.IndexOfAny(new[] { '"', '\'', '\n', '\r', '%', '$', '`' }) >= 0)
                throw new ColoException("ColoGuardUnitInvalidPath", ColoErrorKind.InvalidArgument, $"'{configPath}' holds a character that would need quoting in a unit file; use a plain path.");
            return $@"[Unit]
Description=ColoPS guard for pair {pair}, site {site}
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={pwsh} -NoProfile -NonInteractive -Command ""Import-Module ColoPS; Start-ColoGuard -ConfigPath '{configPath}' -Site {site} -Confirm:$false | Out-Null""
Restart=on-failure
RestartSec=1
# SIGTERM stops the guard as Ctrl+C does: the VM is left as it is, the lease released where that is safe.
KillSignal=SIGTERM
TimeoutStopSec=5

[Install]
WantedBy=multi-user.target
".Replace("\r\n", "\n", StringComparison.Ordinal);
        }
    }
}
