using System;

namespace ColoPS.Colo
{
    /// <summary>What kind of failure a COLO operation met; the cmdlets map it to an ErrorCategory.</summary>
    public enum ColoErrorKind
    {
        InvalidConfiguration,
        InvalidArgument,
        NotSupported,
        InvalidState,
        ProcessFailed,
        Timeout,
        ResourceUnavailable,
        ObjectNotFound,
        OperationFailed,
    }

    /// <summary>A COLO operation failed. ErrorId is stable and becomes the ErrorRecord's id.</summary>
    public class ColoException : Exception
    {
        public ColoException(string errorId, ColoErrorKind kind, string message, Exception? inner = null) : base(message, inner)
        {
            ErrorId = errorId;
            Kind = kind;
        }

        public string ErrorId { get; }
        public ColoErrorKind Kind { get; }
    }
}
