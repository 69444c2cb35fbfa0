namespace LayerTools;

/// <summary>A layer as users see it: its record in the store plus its live mount state.</summary>
public sealed class Layer
{
    public required string Id { get; init; }
    public required IReadOnlyList<string> Names { get; init; }
    public string? Parent { get; init; }
    public DateTime Created { get; init; }
    public required string Driver { get; init; }
    public bool ReadOnly { get; init; }
    public int MountCount { get; init; }
    public string? MountPoint { get; init; }
    public string? CompressedDigest { get; init; }
    public long? CompressedSize { get; init; }
    public string? UncompressedDigest { get; init; }
    public long? UncompressedSize { get; init; }
    public string? Metadata { get; init; }

    /// <summary>How the tarball the layer was last imported from was compressed (None, Gzip, Zstd, Bzip2).</summary>
    public string? Compression { get; init; }

    public IReadOnlyList<uint> Uids { get; init; } = [];
    public IReadOnlyList<uint> Gids { get; init; } = [];

    /// <summary>Why the layer's content cannot be trusted (a failed or interrupted import); null when it is sound.</summary>
    public string? Problem { get; init; }

    /// <summary>The store the layer lives in, so a piped layer finds its way back to it.</summary>
    public required string Root { get; init; }

    public override string ToString() => Id;
}

/// <summary>A mounted layer: where its tree is visible and how many users hold the mount.</summary>
public sealed class LayerMount
{
    public required string LayerId { get; init; }
    public required string Path { get; init; }
    public int MountCount { get; init; }
    public bool ReadOnly { get; init; }
    public required string Root { get; init; }

    public override string ToString() => Path;
}

/// <summary>A store's configuration and state, as Get-LayerStore shows it.</summary>
public sealed class LayerStore
{
    public required string Root { get; init; }
    public required string RunRoot { get; init; }
    public required string Driver { get; init; }
    public required string BackingFilesystem { get; init; }
    public int LayerCount { get; init; }
    public int MountedCount { get; init; }
    public required IReadOnlyDictionary<string, string> Status { get; init; }

    public override string ToString() => Root;
}

/// <summary>A layer diff that was written, read or measured: where, how compressed, and the digests of both forms.</summary>
public sealed class LayerDiff
{
    public required string LayerId { get; init; }

    /// <summary>The tarball file; null for standard output or a measurement.</summary>
    public string? Path { get; init; }

    public required string Compression { get; init; }

    /// <summary>Bytes of the (compressed) stream as written or read.</summary>
    public long Size { get; init; }

    /// <summary>"sha256:..." of the (compressed) stream.</summary>
    public required string Digest { get; init; }

    public long UncompressedSize { get; init; }
    public required string UncompressedDigest { get; init; }

    /// <summary>How many tar entries the diff holds.</summary>
    public long Entries { get; init; }

    /// <summary>
    /// Export: the bytes were replayed from the tarball the layer was made from. Import: that tarball was
    /// recorded, so the layer exports back to exactly these bytes until it is changed.
    /// </summary>
    public bool Exact { get; init; }

    public override string ToString() => Path ?? UncompressedDigest;
}
