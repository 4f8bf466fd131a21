using System;

namespace ColoPS.Qmp
{
    // The typed error family of a QMP session. Each tells the caller which phase failed, so a
    // cmdlet can map it to a stable error id and category without parsing messages.

    /// <summary>Base of every error a QMP session raises.</summary>
    public abstract class QmpException : Exception
    {
        protected QmpException(string message, Exception? inner) : base(message, inner) { }
    }

    /// <summary>The socket could not be opened (refused, missing path, path too long, connect timeout).</summary>
    public sealed class QmpConnectException : QmpException
    {
        public QmpConnectException(QmpEndpoint endpoint, string message, Exception? inner) : base(message, inner)
        {
            Endpoint = endpoint;
        }

        public QmpEndpoint Endpoint { get; }
    }

    /// <summary>The server's first message was missing, late or not a QMP greeting.</summary>
    public sealed class QmpGreetingException : QmpException
    {
        public QmpGreetingException(string message, Exception? inner = null) : base(message, inner) { }
    }

    /// <summary>qmp_capabilities failed or the connection ended during it.</summary>
    public sealed class QmpNegotiationException : QmpException
    {
        public QmpNegotiationException(string message, Exception? inner = null) : base(message, inner) { }
    }

    /// <summary>QEMU answered a command with an error. ErrorClass is an open set: compare with the constants, never assume the list is complete.</summary>
    public sealed class QmpCommandException : QmpException
    {
        public const string GenericError = "GenericError";
        public const string CommandNotFound = "CommandNotFound";
        public const string DeviceNotActive = "DeviceNotActive";
        public const string DeviceNotFound = "DeviceNotFound";
        public const string KVMMissingCap = "KVMMissingCap";

        public QmpCommandException(string command, string errorClass, string description, string? sentJson, string? receivedJson)
            : base($"QMP command '{command}' failed ({errorClass}): {description}", null)
        {
            Command = command;
            ErrorClass = errorClass;
            Description = description;
            SentJson = sentJson;
            ReceivedJson = receivedJson;
        }

        public string Command { get; }
        public string ErrorClass { get; }
        public string Description { get; }
        /// <summary>The command as sent, redacted.</summary>
        public string? SentJson { get; }
        public string? ReceivedJson { get; }
    }

    /// <summary>The connection is gone. Cause holds what broke it (EOF, socket error, protocol error, close on request).</summary>
    public sealed class QmpDisconnectedException : QmpException
    {
        public QmpDisconnectedException(string message, Exception? cause) : base(message, cause) { }
    }

    /// <summary>The server broke the protocol: invalid JSON, a message over the size cap, a malformed reply.</summary>
    public sealed class QmpProtocolException : QmpException
    {
        public QmpProtocolException(string message, string? offendingJson = null, Exception? inner = null) : base(message, inner)
        {
            OffendingJson = offendingJson;
        }

        /// <summary>The start of the offending message, at most 512 characters.</summary>
        public string? OffendingJson { get; }
    }

    /// <summary>No reply in time. The command may still run in QEMU; its late reply is dropped by id.</summary>
    public sealed class QmpTimeoutException : QmpException
    {
        public QmpTimeoutException(string what, TimeSpan timeout)
            : base($"{what} did not finish within {timeout.TotalSeconds:0.###} s.", null)
        {
            Timeout = timeout;
        }

        public TimeSpan Timeout { get; }
    }
}
