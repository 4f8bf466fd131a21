using System;
using System.Management.Automation;
using ColoPS.Colo;
using ColoPS.Qmp;

namespace ColoPS.Commands
{
    /// <summary>
    /// One table from core exceptions to ErrorRecord ids and categories, so every cmdlet reports
    /// the same failure the same way and scripts can match on FullyQualifiedErrorId.
    /// </summary>
    internal static class ErrorMapping
    {
        public static ErrorRecord ToErrorRecord(Exception exception, object? target)
        {
            if (exception is AggregateException agg && agg.InnerExceptions.Count == 1) exception = agg.InnerException!;
            var (id, category) = Classify(exception);
            return new ErrorRecord(exception, id, category, target);
        }

        internal static (string Id, ErrorCategory Category) Classify(Exception exception) => exception switch
        {
            QmpCommandException c => CommandError(c.ErrorClass),
            QmpConnectException => ("QmpConnectFailed", ErrorCategory.ConnectionError),
            QmpTlsException => ("QmpTlsFailed", ErrorCategory.SecurityError),
            QmpGreetingException => ("QmpGreetingFailed", ErrorCategory.ProtocolError),
            QmpNegotiationException => ("QmpNegotiationFailed", ErrorCategory.ProtocolError),
            QmpDisconnectedException => ("QmpSessionDisconnected", ErrorCategory.ConnectionError),
            QmpProtocolException => ("QmpProtocolError", ErrorCategory.ProtocolError),
            QmpTimeoutException => ("QmpTimeout", ErrorCategory.OperationTimeout),
            ColoException colo => (colo.ErrorId, ColoCategory(colo.Kind)),
            ArgumentException => ("InvalidArgument", ErrorCategory.InvalidArgument),
            TimeoutException => ("OperationTimeout", ErrorCategory.OperationTimeout),
            InvalidOperationException => ("InvalidOperation", ErrorCategory.InvalidOperation),
            _ => ("UnexpectedError", ErrorCategory.NotSpecified),
        };

        // QMP error classes are an open set: the known ones get their own id, anything else
        // (newer classes, downstream __RFQDN_ names) a generic one, with the class kept on the exception.
        private static (string, ErrorCategory) CommandError(string errorClass) => errorClass switch
        {
            QmpCommandException.CommandNotFound => ("QmpCommandNotFound", ErrorCategory.NotImplemented),
            QmpCommandException.DeviceNotFound => ("QmpDeviceNotFound", ErrorCategory.ObjectNotFound),
            QmpCommandException.DeviceNotActive => ("QmpDeviceNotActive", ErrorCategory.ResourceUnavailable),
            QmpCommandException.KVMMissingCap => ("QmpKVMMissingCap", ErrorCategory.NotEnabled),
            QmpCommandException.GenericError => ("QmpGenericError", ErrorCategory.InvalidOperation),
            _ => ("QmpCommandError", ErrorCategory.NotSpecified),
        };

        private static ErrorCategory ColoCategory(ColoErrorKind kind) => kind switch
        {
            ColoErrorKind.InvalidConfiguration => ErrorCategory.InvalidData,
            ColoErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
            ColoErrorKind.NotSupported => ErrorCategory.NotImplemented,
            ColoErrorKind.InvalidState => ErrorCategory.InvalidOperation,
            ColoErrorKind.ProcessFailed => ErrorCategory.InvalidResult,
            ColoErrorKind.Timeout => ErrorCategory.OperationTimeout,
            ColoErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
            ColoErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
            _ => ErrorCategory.OperationStopped,
        };
    }
}
