using System;

namespace ColoPS.Commands
{
    /// <summary>An error the cmdlets raise themselves (bad parameters, a session not found).</summary>
    public sealed class ColoPSException : Exception
    {
        public ColoPSException(string message, Exception? inner = null) : base(message, inner) { }
    }
}
