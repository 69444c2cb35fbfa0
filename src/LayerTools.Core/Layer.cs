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
