using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ColoPS.Witness
{
    /// <summary>One key as etcd returned it, with its revisions and its lease (0: none).</summary>
    public sealed record EtcdKeyValue(string Key, string Value, long CreateRevision, long ModRevision, long Version, long Lease);

    // The gateway speaks proto3's JSON mapping: bytes are base64 and 64-bit integers are strings,
    // and fields at their default value (0, false, empty) are left out altogether.
    internal static class EtcdJson
    {
        public static string Encode(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

        public static string Decode(string? base64) => string.IsNullOrEmpty(base64) ? string.Empty : Encoding.UTF8.GetString(Convert.FromBase64String(base64));

        public static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

        /// <summary>The range_end that makes a range cover every key starting with prefix.</summary>
        public static string PrefixEnd(string prefix)
        {
            var bytes = Encoding.UTF8.GetBytes(prefix);
            for (int i = bytes.Length - 1; i >= 0; i--)
            {
                if (bytes[i] < 0xff)
                {
                    bytes[i]++;
                    return Convert.ToBase64String(bytes, 0, i + 1);
                }
            }
            // All 0xff (or empty): etcd's convention for "to the end of the key space".
            return Convert.ToBase64String(new byte[] { 0 });
        }

        public static long GetInt64(JsonElement obj, string name)
        {
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var v)) return 0;
            return v.ValueKind switch
            {
                JsonValueKind.String => long.Parse(v.GetString()!, NumberStyles.Integer, CultureInfo.InvariantCulture),
                JsonValueKind.Number => v.GetInt64(),
                _ => throw new FormatException($"'{name}' is neither a number nor a numeric string."),
            };
        }

        public static bool GetBool(JsonElement obj, string name) =>
            obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

        public static string? GetString(JsonElement obj, string name) =>
            obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        public static long HeaderRevision(JsonElement obj) =>
            obj.TryGetProperty("header", out var h) ? GetInt64(h, "revision") : 0;

        public static EtcdKeyValue ReadKeyValue(JsonElement kv) => new(
            Decode(GetString(kv, "key")),
            Decode(GetString(kv, "value")),
            GetInt64(kv, "create_revision"),
            GetInt64(kv, "mod_revision"),
            GetInt64(kv, "version"),
            GetInt64(kv, "lease"));

        public static IReadOnlyList<EtcdKeyValue> ReadKeyValues(JsonElement rangeResponse)
        {
            if (!rangeResponse.TryGetProperty("kvs", out var kvs) || kvs.ValueKind != JsonValueKind.Array) return Array.Empty<EtcdKeyValue>();
            var list = new List<EtcdKeyValue>(kvs.GetArrayLength());
            foreach (var kv in kvs.EnumerateArray()) list.Add(ReadKeyValue(kv));
            return list;
        }
    }
}
