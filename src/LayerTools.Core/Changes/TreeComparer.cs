using LayerTools.Native;

namespace LayerTools.Changes;

/// <summary>
/// Finds the changes that turn one layer tree into another by walking both and comparing what the
/// inodes say (type, mode, owner, mtime, size, link target, device numbers, xattrs), never content:
/// this is the generic diff every driver can fall back on, so it must see exactly what an export
/// would carry and nothing else. Atime and ctime are left out, as merely reading or copying a tree
/// moves them; the link count is left out, as it belongs to an inode, not to the name being compared.
/// </summary>
public static class TreeComparer
{
    /// <summary>
    /// The changes from <paramref name="lowerRoot"/> (null for an empty layer) to <paramref name="upperRoot"/>,
    /// in <see cref="LayerPathComparer"/> order.
    /// </summary>
    public static IReadOnlyList<LayerChange> Compare(string? lowerRoot, string upperRoot) =>
        Enumerate(lowerRoot, upperRoot).ToList();

    /// <summary>
    /// The same changes as <see cref="Compare"/>, produced as the walk finds them, so a caller can stream
    /// them into an archive while holding only the listings of the directories on the current path.
    /// The roots are checked at once; everything else is read while enumerating.
    /// </summary>
    public static IEnumerable<LayerChange> Enumerate(string? lowerRoot, string upperRoot)
    {
        FileStatus upperStatus = RootStatus(upperRoot);
        return lowerRoot is null
            ? Walk(null, upperRoot, rootChange: ChangeKind.Added)
            : Walk(lowerRoot, upperRoot, Differs(lowerRoot, RootStatus(lowerRoot), upperRoot, upperStatus) ? ChangeKind.Modified : null);
    }

    private static FileStatus RootStatus(string root)
    {
        FileStatus status = Fs.Lstat(root);
        if (status.Kind != FileKind.Directory)
            throw new NativeException("compare trees", root, Errno.ENOTDIR);
        return status;
    }

    private static IEnumerable<LayerChange> Walk(string? lowerRoot, string upperRoot, ChangeKind? rootChange)
    {
        // Against an empty lower tree the root's own mode, owner and times come from this layer, so it is
        // Added like everything else; against a real one it is compared like any directory.
        if (rootChange is { } kind) yield return new LayerChange { Path = "/", Kind = kind };

        // One level per directory on the current path, deepest on top: a pre-order walk that yields a
        // directory's whole subtree before its next sibling, which is exactly LayerPathComparer order.
        // An explicit stack, so that deep trees cannot overflow the call stack.
        var pending = new Stack<Level>();
        pending.Push(new Level("/", lowerRoot is null ? [] : SortedNames(lowerRoot), SortedNames(upperRoot)));
        while (pending.Count > 0)
        {
            Level level = pending.Peek();
            if (!level.TryNext(out string name, out bool inLower, out bool inUpper))
            {
                pending.Pop();
                continue;
            }
            string path = level.Path == "/" ? "/" + name : level.Path + "/" + name;

            if (!inUpper)
            {
                // Only the topmost deleted path: removing it removes everything below it.
                yield return new LayerChange { Path = path, Kind = ChangeKind.Deleted };
                continue;
            }

            string upper = OnDisk(upperRoot, path);
            FileStatus upperStatus = Fs.Lstat(upper);
            if (!inLower)
            {
                yield return new LayerChange { Path = path, Kind = ChangeKind.Added };
                if (upperStatus.Kind == FileKind.Directory)
                    pending.Push(new Level(path, [], SortedNames(upper)));
                continue;
            }

            string lower = OnDisk(lowerRoot!, path);
            FileStatus lowerStatus = Fs.Lstat(lower);
            if (Differs(lower, lowerStatus, upper, upperStatus))
                yield return new LayerChange { Path = path, Kind = ChangeKind.Modified };
            if (upperStatus.Kind != FileKind.Directory) continue;

            // A path whose type changed is reported once, as Modified, and replaced whole: an applier
            // removes the old entry (a directory with everything in it) before writing the new one. So
            // the children of a directory that became something else need no Deleted entries, and a
            // directory that replaced something else starts empty, every child of it being Added.
            pending.Push(new Level(path, lowerStatus.Kind == FileKind.Directory ? SortedNames(lower) : [], SortedNames(upper)));
        }
    }

    private static bool Differs(string lower, FileStatus lowerStatus, string upper, FileStatus upperStatus) =>
        Differs(lower, lowerStatus, upper, upperStatus, AllXattrs);

    /// <summary>
    /// The comparison every change list uses. <paramref name="xattrsOf"/> says which attributes a path shows:
    /// all of them for plain trees, what a merged view shows for a driver reading its own layer directories.
    /// </summary>
    internal static bool Differs(string lower, FileStatus lowerStatus, string upper, FileStatus upperStatus,
        Func<string, Dictionary<string, byte[]>> xattrsOf)
    {
        if (lowerStatus.Kind != upperStatus.Kind
            || lowerStatus.Permissions != upperStatus.Permissions
            || lowerStatus.Uid != upperStatus.Uid
            || lowerStatus.Gid != upperStatus.Gid
            || lowerStatus.Mtime != upperStatus.Mtime)
            return true;
        // A directory's size is the file system's bookkeeping for its entries, not something a layer carries.
        if (lowerStatus.Kind != FileKind.Directory && lowerStatus.Size != upperStatus.Size) return true;
        switch (lowerStatus.Kind)
        {
            case FileKind.Symlink when Fs.ReadLink(lower) != Fs.ReadLink(upper):
                return true;
            case FileKind.CharDevice or FileKind.BlockDevice
                when lowerStatus.RdevMajor != upperStatus.RdevMajor || lowerStatus.RdevMinor != upperStatus.RdevMinor:
                return true;
        }
        // Last: attributes cost two system calls per name on each side, so they are read only when all else agrees.
        return !SameXattrs(xattrsOf(lower), xattrsOf(upper));
    }

    private static Dictionary<string, byte[]> AllXattrs(string path) =>
        Xattrs.Read(path).ToDictionary(x => x.Key, x => x.Value, StringComparer.Ordinal);

    /// <summary>Whether both sides have the same attribute names with the same raw values, in whatever order the kernel lists them.</summary>
    private static bool SameXattrs(Dictionary<string, byte[]> lower, Dictionary<string, byte[]> upper)
    {
        if (lower.Count != upper.Count) return false;
        foreach (var (name, value) in upper)
        {
            if (!lower.TryGetValue(name, out byte[]? lowerValue) || !lowerValue.AsSpan().SequenceEqual(value))
                return false;
        }
        return true;
    }

    private static string OnDisk(string root, string path) => Path.Join(root, path.AsSpan(1));

    /// <summary>A directory's names in the order changes are listed.</summary>
    internal static string[] SortedNames(string directory)
    {
        string[] names = DirectoryListing.Names(directory);
        Array.Sort(names, (x, y) => LayerPathComparer.CompareNames(x, y));
        return names;
    }

    /// <summary>One directory being compared: both sides' sorted child names, merged one name at a time.</summary>
    private sealed class Level(string path, string[] lower, string[] upper)
    {
        private int nextLower;
        private int nextUpper;

        public string Path { get; } = path;

        public bool TryNext(out string name, out bool inLower, out bool inUpper)
        {
            bool lowerLeft = nextLower < lower.Length;
            bool upperLeft = nextUpper < upper.Length;
            int order = (lowerLeft, upperLeft) switch
            {
                (false, false) => 0,
                (true, false) => -1,
                (false, true) => 1,
                _ => LayerPathComparer.CompareNames(lower[nextLower], upper[nextUpper]),
            };
            inLower = lowerLeft && order <= 0;
            inUpper = upperLeft && order >= 0;
            name = inLower ? lower[nextLower] : inUpper ? upper[nextUpper] : "";
            if (inLower) nextLower++;
            if (inUpper) nextUpper++;
            return inLower || inUpper;
        }
    }
}
