using LayerTools.Archive;

namespace LayerTools.Tests.Archive;

/// <summary>Reads whole archives the way the tests need them: every entry with its content, or the raw-hook reassembly.</summary>
public static class TarContents
{
    public static List<(TarEntry Entry, byte[] Content)> ReadAll(byte[] archive) => ReadAll(new MemoryStream(archive));

    public static List<(TarEntry Entry, byte[] Content)> ReadAll(Stream tar)
    {
        var entries = new List<(TarEntry, byte[])>();
        using var reader = new TarReader(tar);
        while (reader.Next() is { } entry)
        {
            using var content = new MemoryStream();
            reader.OpenContent().CopyTo(content);
            entries.Add((entry, content.ToArray()));
        }
        return entries;
    }

    /// <summary>
    /// Reads every entry and its content without keeping any. Content is read up to 4 MiB per entry (four
    /// times the largest fixture file): a damaged sparse map may legitimately describe terabytes of holes,
    /// which would only cost time.
    /// </summary>
    public static void ReadThrough(Stream tar)
    {
        using var reader = new TarReader(tar);
        byte[] buffer = new byte[64 * 1024];
        while (reader.Next() is not null)
        {
            using Stream content = reader.OpenContent();
            long total = 0;
            int read;
            while (total < 4 << 20 && (read = content.Read(buffer)) > 0) total += read;
        }
    }

    /// <summary>The raw sink's bytes with every entry's stored payload spliced in where it was consumed.</summary>
    public static byte[] Reassemble(byte[] archive)
    {
        var output = new MemoryStream();
        using var reader = new TarReader(new MemoryStream(archive), bytes => output.Write(bytes));
        while (reader.Next() is not null)
            reader.OpenPayload().CopyTo(output);
        return output.ToArray();
    }
}
