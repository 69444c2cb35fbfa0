using LayerTools.Changes;
using LayerTools.Native;

namespace LayerTools.Drivers.Overlay;

/// <summary>
/// A layer's changes against its parent read from its overlay diff directory, so the cost follows the
/// size of the change rather than of the layer: only the diff is walked, and the parent's view of a
/// path is found by looking that one path up in the ancestors' diffs. The result is exactly what
/// <see cref="TreeComparer"/> reports for the parent's and the layer's merged views, in the same order.
/// </summary>
/// <remarks>
/// How each diff entry maps to TreeComparer's answer, given how overlayfs builds the merged views:
/// <list type="bullet">
/// <item>A whiteout hides the path: Deleted if the parent's view has it, else nothing.</item>
/// <item>Any other entry is what the layer's view shows at that path (overlayfs takes a path's inode
/// from the topmost layer holding it), so it is compared like TreeComparer compares, against the
/// topmost ancestor entry the parent's view shows: Added if there is none, Modified if any compared
/// field differs, nothing otherwise. That covers files copied up unchanged and directories copied up
/// only to hold a changed child.</item>
/// <item>Children missing from a plain (not opaque) diff directory show the parent's entries
/// unchanged, so they need no reading. An opaque directory hides every ancestor entry below it, so
/// for it and the diff directories under it alone the parent's view of the directory is listed:
/// each child there that the diff lacks is Deleted.</item>
/// <item>A directory that replaced a non-directory, or that the parent's view lacks, has only the
/// diff's children in either view, so they are all Added, as TreeComparer adds them.</item>
/// </list>
/// Attributes overlayfs keeps for itself (trusted.overlay.*) are invisible in a merged view, and an
/// escaped one (trusted.overlay.overlay.X) shows as trusted.overlay.X, so they are compared that way.
/// </remarks>
public static class OverlayChanges
{
    private const string OverlayAttributePrefix = "trusted.overlay.";
    private const string EscapedAttributePrefix = "trusted.overlay.overlay.";
    private const string OpaqueAttribute = "trusted.overlay.opaque";
    private const string WhiteoutAttribute = "trusted.overlay.whiteout";

    /// <summary>
    /// The changes of the layer whose diff is <paramref name="diffRoot"/> against the view its ancestors'
    /// diffs (<paramref name="lowerDiffRoots"/>, nearest first; none for a base layer) make, in
    /// <see cref="LayerPathComparer"/> order. The roots are checked at once; everything else is read while enumerating.
    /// </summary>
    public static IEnumerable<LayerChange> Enumerate(string diffRoot, IReadOnlyList<string> lowerDiffRoots) =>
        Enumerate(diffRoot, lowerDiffRoots, new Visits());

    /// <summary>As the public overload, counting every path it looks at in <paramref name="visits"/>, so tests can check the cost.</summary>
    internal static IEnumerable<LayerChange> Enumerate(string diffRoot, IReadOnlyList<string> lowerDiffRoots, Visits visits)
    {
        FileStatus rootStatus = RootStatus(diffRoot, visits);
        if (lowerDiffRoots.Count == 0) return Walk(diffRoot, [], ChangeKind.Added, visits);
        // Every diff root is a directory, so the parent's root is simply the nearest ancestor's diff root.
        string lowerRoot = lowerDiffRoots[0];
        ChangeKind? rootChange = TreeComparer.Differs(lowerRoot, RootStatus(lowerRoot, visits), diffRoot, rootStatus, VisibleXattrs) ? ChangeKind.Modified : null;
        return Walk(diffRoot, lowerDiffRoots.ToArray(), rootChange, visits);
    }

    private static FileStatus RootStatus(string root, Visits visits)
    {
        visits.Count();
        FileStatus status = Fs.Lstat(root);
        if (status.Kind != FileKind.Directory)
            throw new NativeException("list overlay changes", root, Errno.ENOTDIR);
        return status;
    }

    private static IEnumerable<LayerChange> Walk(string diffRoot, string[] lowerRoots, ChangeKind? rootChange, Visits visits)
    {
        if (rootChange is { } kind) yield return new LayerChange { Path = "/", Kind = kind };

        // The same explicit pre-order walk as TreeComparer's, over the diff's directories only. No diff root
        // is opaque: the driver copies none of overlayfs' own attributes onto one, and a mount escapes those set through it.
        var pending = new Stack<Level>();
        pending.Push(new Level("/", diffRoot, lowerRoots, false, [], TreeComparer.SortedNames(diffRoot)));
        while (pending.Count > 0)
        {
            Level level = pending.Peek();
            if (!level.TryNext(out string name, out bool inUpper))
            {
                pending.Pop();
                continue;
            }
            string path = level.Path == "/" ? "/" + name : level.Path + "/" + name;

            if (!inUpper)
            {
                // Listed from the parent's view of an opaque directory and absent from the diff.
                yield return new LayerChange { Path = path, Kind = ChangeKind.Deleted };
                continue;
            }

            string upper = Path.Join(level.UpperDirectory, name);
            visits.Count();
            FileStatus upperStatus = Fs.Lstat(upper);
            LowerEntry? lower = Lookup(level.LowerDirectories, name, visits);
            if (IsWhiteout(upper, upperStatus))
            {
                if (lower is not null) yield return new LayerChange { Path = path, Kind = ChangeKind.Deleted };
                continue;
            }
            if (lower is null)
            {
                yield return new LayerChange { Path = path, Kind = ChangeKind.Added };
                if (upperStatus.Kind == FileKind.Directory)
                    pending.Push(new Level(path, upper, [], false, [], TreeComparer.SortedNames(upper)));
                continue;
            }

            if (TreeComparer.Differs(lower.Path, lower.Status, upper, upperStatus, VisibleXattrs))
                yield return new LayerChange { Path = path, Kind = ChangeKind.Modified };
            if (upperStatus.Kind != FileKind.Directory) continue;

            // lower.Directories is empty when a directory replaced a non-directory: then every child is Added.
            // Below an opaque directory overlayfs looks nothing up in lower layers, so the whole subtree
            // shows the diff alone, and each of its directories hides what the parent's view had there.
            bool opaque = lower.Directories.Length > 0 && (level.Opaque || IsOpaque(upper));
            pending.Push(new Level(path, upper, lower.Directories, opaque, opaque ? VisibleNames(lower.Directories, visits) : [], TreeComparer.SortedNames(upper)));
        }
    }

    /// <summary>
    /// The parent's view of one child of a directory the ancestors' <paramref name="directories"/> (nearest
    /// first) make up, resolved as overlayfs does: the nearest entry wins, a whiteout hides everything
    /// farther, a non-directory below a directory is hidden, and an opaque directory ends the stack.
    /// </summary>
    internal static LowerEntry? Lookup(string[] directories, string name, Visits visits)
    {
        var stack = new List<string>();
        FileStatus top = default;
        foreach (string directory in directories)
        {
            string candidate = Path.Join(directory, name);
            visits.Count();
            if (!Fs.TryLstat(candidate, out FileStatus status)) continue;
            if (IsWhiteout(candidate, status)) break;
            if (status.Kind != FileKind.Directory)
            {
                if (stack.Count == 0) return new LowerEntry(candidate, status, []);
                break;
            }
            if (stack.Count == 0) top = status;
            stack.Add(candidate);
            if (IsOpaque(candidate)) break;
        }
        return stack.Count == 0 ? null : new LowerEntry(stack[0], top, stack.ToArray());
    }

    /// <summary>The names the parent's view shows in the directory its ancestors' <paramref name="directories"/> make up, sorted.</summary>
    internal static string[] VisibleNames(string[] directories, Visits visits)
    {
        // A name seen in a nearer directory, whiteout or not, decides what the view shows for it.
        var decided = new HashSet<string>(StringComparer.Ordinal);
        var visible = new List<string>();
        foreach (string directory in directories)
        {
            foreach (string name in DirectoryListing.Names(directory))
            {
                if (!decided.Add(name)) continue;
                string path = Path.Join(directory, name);
                visits.Count();
                if (!IsWhiteout(path, Fs.Lstat(path))) visible.Add(name);
            }
        }
        string[] names = visible.ToArray();
        Array.Sort(names, (x, y) => LayerPathComparer.CompareNames(x, y));
        return names;
    }

    /// <summary>overlayfs' two whiteout forms: a 0/0 character device, or an empty file marked with an attribute.</summary>
    internal static bool IsWhiteout(string path, FileStatus status) =>
        status is { Kind: FileKind.CharDevice, RdevMajor: 0, RdevMinor: 0 }
        || (status is { Kind: FileKind.Regular, Size: 0 } && Xattrs.Get(path, WhiteoutAttribute) is not null);

    internal static bool IsOpaque(string directory) =>
        Xattrs.Get(directory, OpaqueAttribute) is [(byte)'y'];

    /// <summary>A path's attributes as a merged view lists them: overlayfs' own left out, escaped ones unescaped.</summary>
    private static Dictionary<string, byte[]> VisibleXattrs(string path)
    {
        var visible = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, value) in Xattrs.Read(path))
        {
            if (VisibleName(name) is { } shown) visible[shown] = value;
        }
        return visible;
    }

    /// <summary>The name a stored attribute shows under in a merged view; null for overlayfs' own.</summary>
    internal static string? VisibleName(string storedName) =>
        storedName.StartsWith(EscapedAttributePrefix, StringComparison.Ordinal) ? OverlayAttributePrefix + storedName[EscapedAttributePrefix.Length..]
        : storedName.StartsWith(OverlayAttributePrefix, StringComparison.Ordinal) ? null
        : storedName;

    /// <summary>The name an attribute of a merged view is stored under in a diff: overlayfs escapes its own prefix.</summary>
    internal static string StoredName(string visibleName) =>
        visibleName.StartsWith(OverlayAttributePrefix, StringComparison.Ordinal) ? EscapedAttributePrefix + visibleName[OverlayAttributePrefix.Length..] : visibleName;

    /// <summary>How many paths an enumeration looked at: one per lstat of a diff or ancestor entry.</summary>
    internal sealed class Visits
    {
        public long Paths { get; private set; }

        public void Count() => Paths++;
    }

    /// <summary>
    /// What the parent's view shows at a path: the topmost entry, and for a directory the ancestors'
    /// directories whose children its view merges (nearest first); empty for a non-directory.
    /// </summary>
    internal sealed record LowerEntry(string Path, FileStatus Status, string[] Directories);

    /// <summary>
    /// One diff directory being walked: its sorted children, merged, for a directory in an opaque subtree
    /// only, with the sorted names the parent's view showed there, so names only the parent had come out
    /// as deletions in order.
    /// </summary>
    private sealed class Level(string path, string upperDirectory, string[] lowerDirectories, bool opaque, string[] hiddenLower, string[] upper)
    {
        private int nextLower;
        private int nextUpper;

        public string Path { get; } = path;
        public string UpperDirectory { get; } = upperDirectory;
        public string[] LowerDirectories { get; } = lowerDirectories;
        public bool Opaque { get; } = opaque;

        public bool TryNext(out string name, out bool inUpper)
        {
            bool lowerLeft = nextLower < hiddenLower.Length;
            bool upperLeft = nextUpper < upper.Length;
            int order = (lowerLeft, upperLeft) switch
            {
                (false, false) => 0,
                (true, false) => -1,
                (false, true) => 1,
                _ => LayerPathComparer.CompareNames(hiddenLower[nextLower], upper[nextUpper]),
            };
            bool inLower = lowerLeft && order <= 0;
            inUpper = upperLeft && order >= 0;
            name = inUpper ? upper[nextUpper] : inLower ? hiddenLower[nextLower] : "";
            if (inLower) nextLower++;
            if (inUpper) nextUpper++;
            return inLower || inUpper;
        }
    }
}
