using System;
using System.Collections.Generic;

namespace ColoPS.Colo.Operations
{
    /// <summary>
    /// What the roll-back of a failed start or resume did, and what it could not undo. A failed
    /// operation's exception carries it (<see cref="Of"/>); nothing else does, so it cannot go stale.
    /// </summary>
    public sealed class ColoRollbackResult
    {
        internal const string DataKey = "ColoPS.Rollback";

        internal ColoRollbackResult(string operation, ColoPlan? plan, IReadOnlyList<string> failures)
        {
            Operation = operation;
            Plan = plan;
            Failures = failures;
        }

        /// <summary>"start" or "resume".</summary>
        public string Operation { get; }
        /// <summary>The roll-back that ran; null when the QEMU could not even be read.</summary>
        public ColoPlan? Plan { get; }
        /// <summary>Each step that failed, in words; empty when the roll-back was complete.</summary>
        public IReadOnlyList<string> Failures { get; }
        public bool Complete => Failures.Count == 0;

        /// <summary>The roll-back a failed operation ran, or null when it ran none.</summary>
        public static ColoRollbackResult? Of(Exception exception) => exception?.Data[DataKey] as ColoRollbackResult;

        internal void AttachTo(Exception exception) => exception.Data[DataKey] = this;
    }
}
