using System.Text.Json;
using System.Text.Json.Serialization;
using LayerTools.Native;
using static Tmds.Linux.LibC;

namespace LayerTools.Store;

/// <summary>
/// A JSON file replaced atomically: written to a temporary file, flushed, renamed over the old one and
/// the directory flushed, so a reader sees the old or the new content, never a mix, even after a crash.
/// </summary>
public static class MetadataFile
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    public static T? Read<T>(string path) where T : class
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Options)
                ?? throw new JsonException("the file holds null");
        }
        catch (JsonException e)
        {
            throw new LayerToolsException(LayerError.StoreCorrupt,
                $"Store metadata '{path}' cannot be read ({e.Message}). Restore it from a backup or re-initialize the store.",
                path, e);
        }
    }

    /// <summary>Deletes temporary files that writers which died mid-write left in <paramref name="directory"/>.</summary>
    public static void RemoveAbandoned(string directory)
    {
        if (!Directory.Exists(directory)) return;
        foreach (string file in Directory.EnumerateFiles(directory, ".*.tmp"))
            File.Delete(file);
    }

    public static void Write<T>(string path, T value)
    {
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(value, Options);
        string directory = Path.GetDirectoryName(path)!;
        string temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        int fd = Fs.Open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0x1A4 /* 0644 */);
        try
        {
            using (var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: false), FileAccess.Write))
                stream.Write(bytes);
            Fs.Fsync(fd, temporary);
        }
        catch
        {
            Fs.Close(fd);
            File.Delete(temporary);
            throw;
        }
        Fs.Close(fd);
        File.Move(temporary, path, overwrite: true);
        Fs.FsyncDirectory(directory);
    }
}
