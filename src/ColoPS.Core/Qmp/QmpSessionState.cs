namespace ColoPS.Qmp
{
    /// <summary>Where a session is in its life. Only Running accepts commands.</summary>
    public enum QmpSessionState
    {
        /// <summary>Socket connecting or greeting not yet read.</summary>
        Connecting,
        /// <summary>Greeting read, qmp_capabilities under way.</summary>
        Negotiating,
        /// <summary>Commands and events flow.</summary>
        Running,
        /// <summary>The user asked to close; pending calls are being failed.</summary>
        Closing,
        /// <summary>Closed on request.</summary>
        Closed,
        /// <summary>The connection failed under us (QEMU died, EOF, write error, protocol error). See FaultReason.</summary>
        Broken,
    }
}
