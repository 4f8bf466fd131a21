using System;
using System.IO;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ColoPS.Colo
{
    /// <summary>Reads and writes configurations as JSON files; unknown members are an error, not silently ignored.</summary>
    public static class ColoConfigJson
    {
        internal static readonly JsonSerializerOptions Options = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = null,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Converters = { new JsonStringEnumConverter() },
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        };

        public static string Serialize(ColoConfig config) => JsonSerializer.Serialize(config, Options);

        public static ColoConfig Deserialize(string json, string source)
        {
            try
            {
                var config = JsonSerializer.Deserialize<ColoConfig>(json, Options)
                    ?? throw new ColoException("ColoConfigInvalidJson", ColoErrorKind.InvalidConfiguration, $"{source} holds no configuration.");
                if (config.SchemaVersion != ColoConfig.CurrentSchemaVersion)
                {
                    throw new ColoException("ColoConfigSchemaVersion", ColoErrorKind.InvalidConfiguration,
                        $"{source} has schema version {config.SchemaVersion}; this ColoPS reads version {ColoConfig.CurrentSchemaVersion}.");
                }
                return config;
            }
            catch (JsonException ex)
            {
                throw new ColoException("ColoConfigInvalidJson", ColoErrorKind.InvalidConfiguration, $"{source} is not a valid ColoPS configuration: {ex.Message}", ex);
            }
        }

        public static ColoConfig Load(string path)
        {
            string json;
            try { json = File.ReadAllText(path); }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                throw new ColoException("ColoConfigNotReadable", ColoErrorKind.ObjectNotFound, $"Cannot read {path}: {ex.Message}", ex);
            }
            return Deserialize(json, path);
        }

        public static void Save(ColoConfig config, string path)
        {
            // Write then rename, so a crash never leaves half a configuration behind.
            var temp = path + ".tmp";
            File.WriteAllText(temp, Serialize(config) + Environment.NewLine);
            File.Move(temp, path, overwrite: true);
        }
    }
}
