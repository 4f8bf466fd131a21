namespace ColoPS.Colo
{
    /// <summary>One TCP link between the sites as this side's QEMU reports it.</summary>
    public sealed class ColoLink
    {
        /// <summary>Migration, Nbd, Mirror or Compare.</summary>
        public string Name { get; internal set; } = string.Empty;

        /// <summary>The QEMU object behind it: a chardev label, a block node, "migration" or "nbd-server".</summary>
        public string Object { get; internal set; } = string.Empty;

        /// <summary>The peer's address (and port) as QEMU names it; null when QEMU does not say.</summary>
        public string? Peer { get; internal set; }

        /// <summary>True or false as QEMU reports it; null where QEMU has no way to tell (see Evidence).</summary>
        public bool? Encrypted { get; internal set; }

        /// <summary>What QEMU said that Encrypted rests on.</summary>
        public string Evidence { get; internal set; } = string.Empty;

        public override string ToString() => $"{Name} ({Object}) {Peer}: {(Encrypted.HasValue ? (Encrypted.Value ? "TLS" : "clear") : "unknown")}";
    }
}
