using LayerTools.Native;

namespace LayerTools.Archive;

/// <summary>
/// The read-only layers a union file system stacks beneath the upper directory a changeset is applied
/// to, and the marks that union keeps there. With one, <see cref="ChangesetApplier"/> writes into the
/// upper directory alone, and a mount of the union then shows what applying the changeset through the
/// mount would have made.
/// </summary>
public interface IUnionLayers
{
    /// <summary>
    /// What the lower layers show at <paramref name="path"/> ("a/b"; "" is the root) through the upper
    /// directory's entries above it: null if they show nothing there, or if an upper directory on the way
    /// hides them (it is opaque, or is not a directory at all). The upper entry at the path itself is not looked at.
    /// </summary>
    LowerFile? Find(string path);

    /// <summary>The names the lower layers show in the directory at <paramref name="path"/>, as <see cref="Find"/> sees it.</summary>
    IReadOnlyList<string> LowerNames(string path);

    /// <summary>Whether an entry of the upper directory is the union's mark for "deleted".</summary>
    bool IsWhiteout(FileStatus status);

    /// <summary>Makes the union's deletion mark at <paramref name="name"/> in the tree's current directory, where nothing is.</summary>
    void MakeWhiteout(BeneathRoot tree, string name);

    /// <summary>Marks the directory <paramref name="name"/> in the tree's current directory as hiding every lower entry below it.</summary>
    void MakeOpaque(BeneathRoot tree, string name);

    /// <summary>The name an extended attribute of the tree is stored under in the upper directory.</summary>
    string StoredAttribute(string name);

    /// <summary>The name a stored extended attribute shows under in a mount; null for the union's own marks.</summary>
    string? VisibleAttribute(string storedName);
}

/// <summary>An entry of a lower layer: where it is on the host, and what it is.</summary>
public readonly record struct LowerFile(string HostPath, FileStatus Status);
