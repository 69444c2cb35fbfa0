using LayerTools.Archive;
using LayerTools.Native;

namespace LayerTools.Drivers.Overlay;

/// <summary>
/// A layer's diff directory as the upper directory of its overlay, for applying a changeset straight
/// into it: what the ancestors' diffs show beneath it, looked up as overlayfs looks them up, and
/// overlayfs' marks (0/0 character devices for whiteouts, trusted.overlay.opaque, escaped
/// trusted.overlay.* attributes).
/// </summary>
/// <remarks>
/// The driver mounts without userxattr, so overlayfs itself makes whiteouts as 0/0 devices in an
/// upper directory; those are the only form this writes or expects there.
/// </remarks>
internal sealed class OverlayUnion : IUnionLayers
{
    private const string OpaqueAttribute = "trusted.overlay.opaque";
    private static readonly byte[] Opaque = "y"u8.ToArray();

    private readonly string _upper;
    // The ancestors' directories that make up the parent's view of a directory, nearest first; null where that view has none.
    private readonly Dictionary<string, string[]?> _lowerDirectories = new(StringComparer.Ordinal);
    private readonly OverlayChanges.Visits _visits = new();

    public OverlayUnion(string upper, IReadOnlyList<string> lowerDiffs)
    {
        _upper = upper;
        _lowerDirectories[""] = lowerDiffs.Count == 0 ? null : lowerDiffs.ToArray();
    }

    public LowerFile? Find(string path)
    {
        if (path.Length == 0)
            return _lowerDirectories[""] is [var root, ..] ? new LowerFile(root, Fs.Lstat(root)) : null;
        int slash = path.LastIndexOf('/');
        string parent = slash < 0 ? "" : path[..slash];
        // Looked up in the lower layers first: a base layer has none, and most paths are in no lower directory.
        if (LowerDirectories(parent) is not { } directories || !ShowsLower(parent)) return null;
        return OverlayChanges.Lookup(directories, path[(slash + 1)..], _visits) is { } entry ? new LowerFile(entry.Path, entry.Status) : null;
    }

    public IReadOnlyList<string> LowerNames(string path) =>
        LowerDirectories(path) is { } directories && ShowsLower(path) ? OverlayChanges.VisibleNames(directories, _visits) : [];

    public bool IsWhiteout(FileStatus status) => status is { Kind: FileKind.CharDevice, RdevMajor: 0, RdevMinor: 0 };

    public void MakeWhiteout(BeneathRoot tree, string name)
    {
        if (!tree.TryMakeNode(name, FileKind.CharDevice, 0, 0))
            throw new NativeException("mknodat", Path.Join(_upper, tree.CurrentPath, name), Errno.EEXIST);
    }

    public void MakeOpaque(BeneathRoot tree, string name) => tree.SetXattr(name, OpaqueAttribute, Opaque);

    public string StoredAttribute(string name) => OverlayChanges.StoredName(name);

    public string? VisibleAttribute(string storedName) => OverlayChanges.VisibleName(storedName);

    /// <summary>
    /// Whether lower entries show through the upper directory down to <paramref name="directory"/>: no
    /// upper entry on the way is a non-directory (a whiteout included) or opaque. overlayfs ignores
    /// the opaque mark on the root, so the root is not looked at.
    /// </summary>
    private bool ShowsLower(string directory)
    {
        string upper = _upper;
        foreach (string component in directory.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            upper = Path.Join(upper, component);
            // Missing from the upper directory: nothing there hides the lower entries, and nothing deeper exists.
            if (!Fs.TryLstat(upper, out FileStatus status)) return true;
            if (status.Kind != FileKind.Directory || OverlayChanges.IsOpaque(upper)) return false;
        }
        return true;
    }

    /// <summary>The ancestors' directories that make up the parent's view of <paramref name="directory"/>; null if it shows no directory there.</summary>
    private string[]? LowerDirectories(string directory)
    {
        if (_lowerDirectories.TryGetValue(directory, out string[]? known)) return known;
        int slash = directory.LastIndexOf('/');
        string[]? found = LowerDirectories(slash < 0 ? "" : directory[..slash]) is { } parents
            && OverlayChanges.Lookup(parents, directory[(slash + 1)..], _visits) is { Directories: [_, ..] } entry
                ? entry.Directories
                : null;
        _lowerDirectories[directory] = found;
        return found;
    }
}
