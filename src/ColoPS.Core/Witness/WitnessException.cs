using System;

namespace ColoPS.Witness
{
    /// <summary>What kind of failure a witness call met. The guard decides on the kind, never on the message.</summary>
    public enum WitnessErrorKind
    {
        /// <summary>No member answered: every endpoint refused, reset or was not a reachable etcd.</summary>
        Unreachable,
        /// <summary>The call's time ran out before any member answered it.</summary>
        Timeout,
        /// <summary>A compare-and-swap lost: someone else changed the record first.</summary>
        Conflict,
        /// <summary>The lease is gone (expired or revoked) on the witness.</summary>
        LeaseNotFound,
        /// <summary>A member answered but could not serve (no leader, not in quorum, too many requests).</summary>
        Unavailable,
        /// <summary>The witness answered something this client cannot read, or refused the request as invalid.</summary>
        Protocol,
    }

    /// <summary>A witness call failed. ErrorId is stable and becomes the ErrorRecord's id in a cmdlet.</summary>
    public sealed class WitnessException : Exception
    {
        public WitnessException(string errorId, WitnessErrorKind kind, string message, Exception? inner = null) : base(message, inner)
        {
            ErrorId = errorId;
            Kind = kind;
        }

        public string ErrorId { get; }
        public WitnessErrorKind Kind { get; }

        /// <summary>The endpoint that gave the last answer or error, when one did.</summary>
        public Uri? Endpoint { get; init; }

        /// <summary>
        /// True when another member may do better. A write that timed out may still have been applied,
        /// so the caller of a non-idempotent write must read back before trusting a retry's conflict.
        /// </summary>
        public bool IsTransient => Kind is WitnessErrorKind.Unreachable or WitnessErrorKind.Timeout or WitnessErrorKind.Unavailable;
    }
}
