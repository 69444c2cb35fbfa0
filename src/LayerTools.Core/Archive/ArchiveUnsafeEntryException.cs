namespace LayerTools.Archive;

/// <summary>
/// An archive entry refused because applying it could reach outside the tree it is applied to: a ".."
/// in its path, a path through a symlink or a non-directory, a hard link to something the tree does not
/// hold, or a whiteout that names no file. Nothing outside the tree was touched, but the tree holds the
/// entries applied before this one and should be discarded.
/// </summary>
/// <remarks>An <see cref="IOException"/> like <see cref="ArchiveCorruptException"/>, so callers can treat every bad archive alike.</remarks>
public sealed class ArchiveUnsafeEntryException : IOException
{
    public ArchiveUnsafeEntryException(string entryName, string problem)
        : base($"The archive entry '{entryName}' is refused: {problem}.")
    {
        EntryName = entryName;
        Problem = problem;
    }

    /// <summary>The entry's name exactly as the archive stores it.</summary>
    public string EntryName { get; }

    /// <summary>Why it was refused, without the entry's name.</summary>
    public string Problem { get; }
}
