using System;
using System.Collections.Generic;
using System.Text.Json.Nodes;

namespace ColoPS.Qmp
{
    /// <summary>Hides secrets before a command reaches a log: QEMU takes passwords and keys as plain members.</summary>
    internal static class QmpRedactor
    {
        private const string Mask = "***";

        // Member names QEMU's schema uses for secrets (object-add secret data, VNC/SPICE passwords,
        // LUKS passphrases, TLS keys given inline). Matched at any depth, whole name or as a suffix.
        private static readonly string[] s_secretNames = { "password", "passphrase", "secret", "data", "key-secret" };

        /// <param name="wire">The message as already serialized; returned as is when nothing is secret.</param>
        public static string Redact(JsonObject message, string? wire = null)
        {
            if (!ContainsSecret(message)) return wire ?? message.ToJsonString();
            var copy = (JsonObject)message.DeepClone();
            Walk(copy);
            return copy.ToJsonString();
        }

        /// <summary>A message QEMU sent, as text for a log: replies can carry secrets too (a secret object's properties, a password in a query).</summary>
        public static string RedactReceived(ReadOnlySpan<byte> bytes)
        {
            string text = System.Text.Encoding.UTF8.GetString(bytes);
            // Every reply passes here when a cmdlet observes the session: parse only the rare ones
            // that could hold a secret name ("password", "passphrase", "key-secret", a secret object).
            if (text.IndexOf("pass", StringComparison.OrdinalIgnoreCase) < 0 && text.IndexOf("secret", StringComparison.OrdinalIgnoreCase) < 0) return text;
            JsonNode? node;
            try { node = JsonNode.Parse(bytes); }
            catch (System.Text.Json.JsonException) { return text; }
            if (!ContainsSecret(node)) return text;
            Walk(node);
            return node!.ToJsonString();
        }

        private static bool ContainsSecret(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var kv in o)
                    {
                        if (IsSecretName(kv.Key, o) || ContainsSecret(kv.Value)) return true;
                    }
                    return false;
                case JsonArray a:
                    foreach (var item in a) if (ContainsSecret(item)) return true;
                    return false;
                default:
                    return false;
            }
        }

        private static void Walk(JsonNode? node)
        {
            if (node is JsonObject o)
            {
                var keys = new List<string>();
                foreach (var kv in o) keys.Add(kv.Key);
                foreach (var k in keys)
                {
                    if (IsSecretName(k, o) && o[k] is JsonValue) o[k] = Mask;
                    else Walk(o[k]);
                }
            }
            else if (node is JsonArray a)
            {
                foreach (var item in a) Walk(item);
            }
        }

        private static bool IsSecretName(string name, JsonObject parent)
        {
            foreach (var s in s_secretNames)
            {
                if (!name.EndsWith(s, StringComparison.OrdinalIgnoreCase)) continue;
                // "data" is a secret only on a secret object (object-add qom-type=secret); elsewhere it is ordinary.
                if (s == "data") return parent["qom-type"] is JsonValue t && t.ToString() == "secret";
                return true;
            }
            return false;
        }
    }
}
