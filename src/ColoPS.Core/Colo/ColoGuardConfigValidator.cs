using System;
using System.Linq;

namespace ColoPS.Colo
{
    /// <summary>Checks the guard's part of a configuration (Witness, FencingHook); called by <see cref="ColoConfigValidator"/>.</summary>
    internal static class ColoGuardConfigValidator
    {
        public static void Validate(ColoConfig config, Action<string, string, string> add)
        {
            if (config.FencingHook != null && (config.FencingHook.Trim().Length == 0 || config.FencingHook.IndexOfAny(new[] { '\n', '\r', '\0' }) >= 0))
                add("ColoConfigInvalidFencingHook", "FencingHook", "The fencing hook must be one non-empty command line (no line breaks or NUL); leave it out for none.");
            if (config.FencingHookTimeoutSeconds < 1 || config.FencingHookTimeoutSeconds > 600)
                add("ColoConfigInvalidFencingHook", "FencingHookTimeoutSeconds", $"{config.FencingHookTimeoutSeconds} s is out of range (1 to 600).");
            if (config.FencingHook != null && config.Witness == null)
                add("ColoConfigMissingWitness", "FencingHook", "A fencing hook is only run by a guard, and a guard needs a Witness section.");

            var w = config.Witness;
            if (w == null) return;
            if (w.Endpoints == null || w.Endpoints.Length == 0)
                add("ColoConfigInvalidWitnessEndpoint", "Witness.Endpoints", "The witness needs at least one etcd client URL, e.g. http://10.0.0.5:2379.");
            foreach (var e in w.Endpoints ?? Array.Empty<string>())
            {
                if (!Uri.TryCreate(e, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.AbsolutePath != "/" || uri.Query.Length > 0)
                    add("ColoConfigInvalidWitnessEndpoint", "Witness.Endpoints", $"'{e}' is not an etcd client URL such as http://10.0.0.5:2379 (http or https, no path).");
            }
            if (w.Endpoints != null && w.Endpoints.Distinct(StringComparer.OrdinalIgnoreCase).Count() != w.Endpoints.Length)
                add("ColoConfigInvalidWitnessEndpoint", "Witness.Endpoints", "An etcd endpoint is listed twice.");
            var pair = w.PairName(config);
            if (pair.Contains('/') || pair.Any(char.IsControl) || pair.Trim().Length == 0)
                add("ColoConfigInvalidWitnessPair", "Witness.Pair", $"'{pair}' cannot name the pair's keys: no '/', no control characters.");
            if (string.IsNullOrEmpty(w.Prefix) || !w.Prefix.StartsWith('/') || w.Prefix.Any(char.IsControl))
                add("ColoConfigInvalidWitnessPrefix", "Witness.Prefix", $"'{w.Prefix}' is not a key root such as /colops/.");
            if (w.LeaseTtlSeconds < 2 || w.LeaseTtlSeconds > 60)
                // etcd raises a TTL below its minimum (about 1.5 election timeouts, 2 s by default) without saying so.
                add("ColoConfigInvalidWitnessTiming", "Witness.LeaseTtlSeconds", $"{w.LeaseTtlSeconds} s is out of range (2 to 60; etcd raises shorter leases to its minimum).");
            if (w.CallTimeoutMs < 100 || w.CallTimeoutMs > 60000)
                add("ColoConfigInvalidWitnessTiming", "Witness.CallTimeoutMs", $"{w.CallTimeoutMs} ms is out of range (100 to 60000).");
            if (w.HeartbeatPort.HasValue && (w.HeartbeatPort.Value < 1 || w.HeartbeatPort.Value > 65535))
                add("ColoConfigInvalidPort", "Witness.HeartbeatPort", $"{w.HeartbeatPort} is not a port (1 to 65535).");
            else if (w.HeartbeatPort.HasValue && config.Ports.All.Any(p => p.Port == w.HeartbeatPort.Value))
                add("ColoConfigInvalidPort", "Witness.HeartbeatPort", $"{w.HeartbeatPort} is already one of the COLO ports.");
            var ttlMs = w.LeaseTtlSeconds * 1000;
            if (w.FenceMarginMs.HasValue && (w.FenceMarginMs.Value < 100 || w.FenceMarginMs.Value >= ttlMs / 2))
                add("ColoConfigInvalidWitnessTiming", "Witness.FenceMarginMs", $"{w.FenceMarginMs} ms must be at least 100 and below half the lease TTL ({ttlMs / 2} ms): the guard needs renewals to fail before it fences.");
        }
    }
}
