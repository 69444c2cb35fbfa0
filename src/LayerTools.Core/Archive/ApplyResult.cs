namespace LayerTools.Archive;

/// <summary>What applying a layer changeset wrote, for the layer's record.</summary>
public sealed record ApplyResult
{
    /// <summary>Every entry of the archive, whiteouts and the root directory included.</summary>
    public required long Entries { get; init; }

    /// <summary>File data the archive carried: the sum of the entries' stored payloads (a sparse file's holes are not counted).</summary>
    public required long PayloadBytes { get; init; }

    /// <summary>The size of the uncompressed tar stream, headers, padding and trailing bytes included.</summary>
    public required long ArchiveBytes { get; init; }

    /// <summary>The distinct owner ids of the entries written into the tree (whiteouts excepted), ascending.</summary>
    public required IReadOnlyList<uint> Uids { get; init; }

    /// <summary>The distinct group ids of the entries written into the tree (whiteouts excepted), ascending.</summary>
    public required IReadOnlyList<uint> Gids { get; init; }

    /// <summary>Whiteout entries (<c>.wh.NAME</c>), whether or not they found something to remove.</summary>
    public required int Whiteouts { get; init; }

    /// <summary>Opaque markers (<c>.wh..wh..opq</c>), each clearing what lower layers held in its directory.</summary>
    public required int OpaqueDirectories { get; init; }
}
