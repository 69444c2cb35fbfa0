namespace LayerTools.Archive;

/// <summary>
/// A layer's files no longer give back the tarball it was made from: a file the tar-split record reads
/// is missing, is no longer a regular file, has another size, or its content changed. The layer itself
/// may be fine; export a fresh diff of it instead.
/// </summary>
public sealed class TarSplitMismatchException : IOException
{
    public TarSplitMismatchException(string message, string? path = null)
        : base(message)
    {
        Path = path;
    }

    /// <summary>
    /// The file that changed, relative to the layer root; null when only the replayed digest revealed the
    /// change (content rewritten in place at the same size), which cannot tell which file it was.
    /// </summary>
    public string? Path { get; }
}
