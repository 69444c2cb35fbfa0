using LayerTools.Native;

namespace LayerTools.Archive;

/// <summary>
/// One member of a tar archive, with every PAX and GNU extension already applied: what the archive says
/// about the file, not what the host would make of it. <see cref="Name"/> is the path exactly as stored
/// (no normalisation, no safety check: resolving it against a tree is the applier's job).
/// </summary>
/// <remarks>Record equality compares the lists (xattrs, extra PAX records, sparse map) by reference, not content.</remarks>
public sealed record TarEntry
{
    public required string Name { get; init; }

    public required TarEntryType Type { get; init; }

    /// <summary>Permission bits with setuid, setgid and sticky (mode &amp; 07777).</summary>
    public uint Mode { get; init; }

    public uint Uid { get; init; }

    public uint Gid { get; init; }

    public string? UserName { get; init; }

    public string? GroupName { get; init; }

    /// <summary>
    /// The logical file size: for a sparse file the size with its holes, for a regular file its length.
    /// Directories and hard links always have 0, whatever their header says, because GNU tar stores no data
    /// for them.
    /// </summary>
    public long Size { get; init; }

    public Timestamp Mtime { get; init; }

    /// <summary>Only PAX headers carry an access time; ustar and GNU headers leave this null.</summary>
    public Timestamp? Atime { get; init; }

    /// <summary>Only PAX headers carry a change time; ustar and GNU headers leave this null.</summary>
    public Timestamp? Ctime { get; init; }

    /// <summary>The target of a symlink or hard link; null for other entries.</summary>
    public string? LinkName { get; init; }

    public uint DevMajor { get; init; }

    public uint DevMinor { get; init; }

    /// <summary>Extended attributes from PAX <c>SCHILY.xattr.NAME</c> records, values as raw bytes, in the order the archive lists them.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs { get; init; } = [];

    /// <summary>
    /// PAX records this codec does not interpret (global ones first, then the entry's own), kept so a
    /// rewrite loses nothing. The writer emits them again; it refuses keys it manages itself.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> ExtraPax { get; init; } = [];

    /// <summary>
    /// For a sparse file, the data segments of the logical file in ascending order; everything between
    /// them is a hole. Null for a file stored whole. The segments' bytes are stored back to back in the
    /// archive, which is what <see cref="TarReader.OpenPayload"/> returns.
    /// </summary>
    public IReadOnlyList<(long Offset, long Length)>? SparseMap { get; init; }

    /// <summary>
    /// How many payload bytes the archive stores for this entry (set by the reader, ignored by the
    /// writer): <see cref="Size"/> for a plain file, the sum of the segment lengths for a sparse one.
    /// Headers, extension data, a sparse map and padding are not payload.
    /// </summary>
    public long StoredSize { get; init; }
}
