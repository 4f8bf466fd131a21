using System;
using System.Collections.Generic;
using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ColoPS.Commands
{
    /// <summary>Converts between QMP's JSON and PowerShell values.</summary>
    /// <remarks>
    /// Objects become PSCustomObject (member order kept), arrays object[], integers Int64
    /// (UInt64 past its range: QMP sizes are uint64), other numbers Double.
    /// </remarks>
    internal static class PSJson
    {
        public static object? ToPSValue(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    var obj = new PSObject();
                    var properties = obj.Properties;
                    HashSet<string>? seen = null;
                    foreach (var p in element.EnumerateObject())
                    {
                        // A repeated member keeps its last value, like ConvertFrom-Json. Removing a
                        // member from a PSObject costs more than the rest of the conversion, so
                        // only a name seen before in this object is removed.
                        seen ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                        if (!seen.Add(p.Name)) properties.Remove(p.Name);
                        properties.Add(new PSNoteProperty(p.Name, ToPSValue(p.Value)), preValidated: true);
                    }
                    return obj;
                case JsonValueKind.Array:
                    var list = new object?[element.GetArrayLength()];
                    int i = 0;
                    foreach (var item in element.EnumerateArray()) list[i++] = ToPSValue(item);
                    return list;
                case JsonValueKind.String:
                    return element.GetString();
                case JsonValueKind.Number:
                    if (element.TryGetInt64(out long l)) return l;
                    if (element.TryGetUInt64(out ulong u)) return u;
                    return element.GetDouble();
                case JsonValueKind.True:
                    return true;
                case JsonValueKind.False:
                    return false;
                default:
                    return null;
            }
        }

        /// <summary>Turns a hashtable (or any PowerShell value) into QMP arguments.</summary>
        public static JsonNode? ToJsonNode(object? value)
        {
            if (value is PSObject pso)
            {
                if (pso.BaseObject is PSCustomObject)
                {
                    var fromPso = new JsonObject();
                    foreach (var p in pso.Properties) fromPso[p.Name] = ToJsonNode(p.Value);
                    return fromPso;
                }
                value = pso.BaseObject;
            }

            switch (value)
            {
                case null:
                    return null;
                case JsonNode node:
                    return node.DeepClone();
                case JsonElement element:
                    return JsonNode.Parse(element.GetRawText());
                case string s:
                    return JsonValue.Create(s);
                case char c:
                    return JsonValue.Create(c.ToString());
                case bool b:
                    return JsonValue.Create(b);
                case SwitchParameter sw:
                    return JsonValue.Create(sw.IsPresent);
                case int or long or short or byte or sbyte or uint or ushort:
                    return JsonValue.Create(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                case ulong ul:
                    return JsonValue.Create(ul);
                case float or double or decimal:
                    return JsonValue.Create(Convert.ToDouble(value, CultureInfo.InvariantCulture));
                case Enum e:
                    return JsonValue.Create(e.ToString());
                case IDictionary dict:
                    var obj = new JsonObject();
                    foreach (DictionaryEntry entry in dict)
                    {
                        obj[Convert.ToString(entry.Key, CultureInfo.InvariantCulture)!] = ToJsonNode(entry.Value);
                    }
                    return obj;
                case IEnumerable seq:
                    var arr = new JsonArray();
                    foreach (var item in seq) arr.Add(ToJsonNode(item));
                    return arr;
                default:
                    throw new ArgumentException(string.Format(CultureInfo.InvariantCulture,
                        "A value of type {0} cannot be sent as QMP JSON. Use strings, numbers, booleans, hashtables and arrays.", value.GetType().FullName));
            }
        }

        public static JsonObject? ToArguments(IDictionary? arguments)
            => arguments == null ? null : (JsonObject)ToJsonNode(arguments)!;
    }
}
