using System;
using System.Collections.Generic;
using System.Linq;

namespace ColoPS.Witness
{
    /// <summary>Where the witness cluster answers and how long a call may take.</summary>
    public sealed class EtcdClientOptions
    {
        public EtcdClientOptions(IEnumerable<Uri> endpoints)
        {
            Endpoints = endpoints?.ToArray() ?? throw new ArgumentNullException(nameof(endpoints));
            if (Endpoints.Count == 0) throw new ArgumentException("At least one etcd endpoint is needed.", nameof(endpoints));
            foreach (var e in Endpoints)
            {
                if (!e.IsAbsoluteUri || (e.Scheme != Uri.UriSchemeHttp && e.Scheme != Uri.UriSchemeHttps))
                    throw new ArgumentException($"Endpoint '{e}' is not an absolute http(s) address.", nameof(endpoints));
            }
        }

        /// <summary>One client URL per member; a call tries them in turn, starting with the last that answered.</summary>
        public IReadOnlyList<Uri> Endpoints { get; }

        /// <summary>
        /// The whole budget of one call, across every member it tries. Short by default because the
        /// guard's lease is only a few seconds long: a renewal that takes longer is useless anyway.
        /// </summary>
        public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(2);

        /// <summary>
        /// How long one member may take before the next is tried. Below the call budget so that a
        /// member that hangs (partitioned, stopped with SIGSTOP) does not eat the whole budget.
        /// </summary>
        public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromMilliseconds(700);

        /// <summary>Pause after every member failed once, so a cluster that is down is not hammered.</summary>
        public TimeSpan RoundPause { get; init; } = TimeSpan.FromMilliseconds(100);
    }
}
