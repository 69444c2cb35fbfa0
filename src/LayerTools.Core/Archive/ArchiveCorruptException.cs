namespace LayerTools.Archive;

/// <summary>
/// An archive that cannot be read as it stands: a damaged header, a truncated stream, a field that does
/// not parse, or compressed data that fails to decode. Nothing after the fault can be trusted, so the
/// reader stops there.
/// </summary>
/// <remarks>
/// An <see cref="IOException"/> because it surfaces from stream reads, like the failures of the stream
/// underneath; <see cref="InvalidDataException"/>, the closer relative, is sealed.
/// </remarks>
public sealed class ArchiveCorruptException : IOException
{
    public ArchiveCorruptException(string problem, string? entryName = null, long? offset = null, Exception? inner = null)
        : base(Describe(problem, entryName, offset), inner)
    {
        Problem = problem;
        EntryName = entryName;
        Offset = offset;
    }

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; }

    /// <summary>The entry being read when the fault was found, if its name was already known.</summary>
    public string? EntryName { get; }

    /// <summary>Where the header at fault starts in the uncompressed tar stream, if known.</summary>
    public long? Offset { get; }

    private static string Describe(string problem, string? entryName, long? offset)
    {
        string where = (entryName, offset) switch
        {
            (not null, not null) => $"tar entry '{entryName}' (header at byte {offset})",
            (not null, null) => $"tar entry '{entryName}'",
            (null, not null) => $"tar header at byte {offset}",
            _ => "tar stream",
        };
        return $"The archive is corrupt at {where}: {problem}";
    }
}
