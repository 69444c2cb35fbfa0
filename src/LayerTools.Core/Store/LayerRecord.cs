namespace LayerTools.Store;

/// <summary>What the store remembers of one layer (an entry of layers.json).</summary>
public sealed class LayerRecord
{
    public required string Id { get; set; }
    public List<string> Names { get; set; } = new();
    public string? Parent { get; set; }
    public DateTime Created { get; set; }
    public string? Metadata { get; set; }
    public bool ReadOnly { get; set; }

    /// <summary>Set before the driver is asked to create or remove anything, cleared when it has finished.</summary>
    public bool Incomplete { get; set; }

    /// <summary>
    /// What went wrong with the layer's content, when it cannot be trusted: an import that failed or was
    /// interrupted after it had begun writing into an existing layer. Null for a sound layer.
    /// </summary>
    public string? Problem { get; set; }

    /// <summary>True until the layer's tree is written by anything but its creation (an import, a read-write mount).</summary>
    public bool Untouched { get; set; }

    public string? CompressedDigest { get; set; }
    public long? CompressedSize { get; set; }
    public string? UncompressedDigest { get; set; }
    public long? UncompressedSize { get; set; }
    public string? Compression { get; set; }

    /// <summary>How many tar entries the layer's last import held.</summary>
    public long? Entries { get; set; }

    /// <summary>The owners used by the layer's last import (containers/storage's uidset and gidset).</summary>
    public List<uint>? Uids { get; set; }

    public List<uint>? Gids { get; set; }
}

/// <summary>The whole of layers.json.</summary>
public sealed class LayerList
{
    public List<LayerRecord> Layers { get; set; } = new();
}

/// <summary>store.json: fixed at initialization.</summary>
public sealed class StoreConfig
{
    public const int CurrentVersion = 1;
    public int Version { get; set; } = CurrentVersion;
    public required string Driver { get; set; }
    public DateTime Created { get; set; }
}
