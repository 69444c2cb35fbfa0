namespace LayerTools.Archive;

/// <summary>How a layer's tar stream is compressed.</summary>
public enum CompressionKind
{
    None,
    Gzip,
    Zstd,
    Bzip2,
}
