using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace ColoPS.Guard
{
    /// <summary>Runs the operator's fencing hook: /bin/sh -c, the pair and sites in the environment, exit 0 within the timeout or it failed.</summary>
    public static class FencingHookRunner
    {
        public static async Task<(FenceHookResult Result, string Detail)> RunAsync(string command, string pair, string site, string peer, TimeSpan timeout, CancellationToken ct)
        {
            var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(command);
            psi.Environment["COLOPS_PAIR"] = pair;
            psi.Environment["COLOPS_SITE"] = site;
            psi.Environment["COLOPS_PEER"] = peer;
            using var p = new Process { StartInfo = psi };
            try { p.Start(); }
            catch (Exception e) { return (FenceHookResult.Failed, "the fencing hook did not start: " + e.Message); }
            var stderr = p.StandardError.ReadToEndAsync(ct);
            _ = p.StandardOutput.ReadToEndAsync(ct);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(timeout);
            try
            {
                await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // A hook that hangs has not fenced anything we can rely on; it must not linger either.
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                ct.ThrowIfCancellationRequested();
                return (FenceHookResult.Failed, $"the fencing hook did not finish within {timeout.TotalSeconds:0.#} s (killed)");
            }
            string err = "";
            try { err = (await stderr.ConfigureAwait(false)).Trim(); } catch (OperationCanceledException) { }
            return p.ExitCode == 0
                ? (FenceHookResult.Succeeded, "the fencing hook fenced the peer (exit 0)")
                : (FenceHookResult.Failed, $"the fencing hook failed (exit {p.ExitCode}){(err.Length > 0 ? ": " + err : "")}");
        }
    }
}
