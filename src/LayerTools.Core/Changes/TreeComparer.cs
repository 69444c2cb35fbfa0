using System.Runtime.InteropServices;
using LayerTools.Native;

namespace LayerTools.Changes;

/// <summary>
/// Finds the changes that turn one layer tree into another by walking both and comparing what the
/// inodes say (type, mode, owner, mtime, size, link target, device numbers, xattrs), never content:
/// this is the generic diff every driver can fall back on, so it must see exactly what an export
/// would carry and nothing else. Atime and ctime are left out, as merely reading or copying a tree
/// moves them; the link count is left out, as it belongs to an inode, not to the name being compared.
/// </summary>
public static partial class TreeComparer
{
    /// <summary>
    /// The changes from <paramref name="lowerRoot"/> (null for an empty layer) to <paramref name="upperRoot"/>,
    /// in <see cref="LayerPathComparer"/> order.
    /// </summary>
    public static IReadOnlyList<LayerChange> Compare(string? lowerRoot, string upperRoot) =>
        Enumerate(lowerRoot, upperRoot).ToList();

    /// <summary>
    /// The same changes as <see cref="Compare"/>, produced as the walk finds them, so a caller can stream
    /// them into an archive while holding only the listings of the directories on the current path and of
    /// a bounded number compared ahead of it on other cores. The roots are checked at once; everything else
    /// is read while enumerating, and a failure surfaces where the walk reaches it. Dispose the enumerator
    /// (foreach does) before removing or unmounting the trees: that waits for the comparisons ahead to stop.
    /// </summary>
    public static IEnumerable<LayerChange> Enumerate(string? lowerRoot, string upperRoot)
    {
        FileStatus upperStatus = RootStatus(upperRoot);
        return lowerRoot is null
            ? Walk(null, upperRoot, rootChange: ChangeKind.Added)
            : Walk(lowerRoot, upperRoot, Differs(lowerRoot, RootStatus(lowerRoot), upperRoot, upperStatus, AllXattrs) ? ChangeKind.Modified : null);
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
        using var lookahead = new Lookahead();
        var root = new DirectoryPair("/", lowerRoot, upperRoot);
        pending.Push(new Level(root.Path, lookahead.Take(root)));
        while (pending.Count > 0)
        {
            Level level = pending.Peek();
            if (!level.TryNext(out Child child))
            {
                pending.Pop();
                continue;
            }
            if (child.Change is { } change)
                yield return new LayerChange { Path = child.Directory?.Path ?? ChildPath(level.Path, child.Name), Kind = change };
            if (child.Directory is { } directory) pending.Push(new Level(directory.Path, lookahead.Take(directory)));
        }
    }

    private static string ChildPath(string path, string name) => path == "/" ? "/" + name : path + "/" + name;

    /// <summary>
    /// The children of one directory that the walk reports or enters, in order. Both sides are read in one
    /// go through open handles, which are closed again before the walk goes deeper, so a deep tree holds
    /// no descriptors; children that neither changed nor are directories are not kept.
    /// </summary>
    private static List<Child> CompareChildren(DirectoryPair pair)
    {
        using DirectoryHandle upper = DirectoryHandle.Open(pair.Upper);
        using DirectoryHandle? lower = pair.Lower is null ? null : DirectoryHandle.Open(pair.Lower);
        List<string> upperNames = SortedNames(upper);
        List<string> lowerNames = lower is null ? [] : SortedNames(lower);
        var children = new List<Child>();
        int nextLower = 0, nextUpper = 0;
        while (nextLower < lowerNames.Count || nextUpper < upperNames.Count)
        {
            int order = nextLower == lowerNames.Count ? 1
                : nextUpper == upperNames.Count ? -1
                : LayerPathComparer.CompareNames(lowerNames[nextLower], upperNames[nextUpper]);
            if (order < 0)
            {
                // Only the topmost deleted path: removing it removes everything below it.
                children.Add(new Child(lowerNames[nextLower++], ChangeKind.Deleted, null));
                continue;
            }

            string name = upperNames[nextUpper++];
            FileStatus upperStatus = upper.Lstat(name);
            bool directory = upperStatus.Kind == FileKind.Directory;
            if (order > 0)
            {
                children.Add(new Child(name, ChangeKind.Added, directory ? new DirectoryPair(ChildPath(pair.Path, name), null, upper.PathOf(name)) : null));
                continue;
            }

            nextLower++;
            FileStatus lowerStatus = lower!.Lstat(name);
            ChangeKind? change = Differs(lower, lowerStatus, upper, upperStatus, name) ? ChangeKind.Modified : null;
            // A path whose type changed is reported once, as Modified, and replaced whole: an applier
            // removes the old entry (a directory with everything in it) before writing the new one. So
            // the children of a directory that became something else need no Deleted entries, and a
            // directory that replaced something else starts empty, every child of it being Added.
            if (directory)
            {
                string? lowerChild = lowerStatus.Kind == FileKind.Directory ? lower.PathOf(name) : null;
                children.Add(new Child(name, change, new DirectoryPair(ChildPath(pair.Path, name), lowerChild, upper.PathOf(name))));
            }
            else if (change is not null)
                children.Add(new Child(name, change, null));
        }
        return children;
    }

    private static bool Differs(DirectoryHandle lower, FileStatus lowerStatus, DirectoryHandle upper, FileStatus upperStatus, string name)
    {
        if (StatusDiffers(lowerStatus, upperStatus)) return true;
        if (lowerStatus.Kind == FileKind.Symlink && lower.ReadLink(name) != upper.ReadLink(name)) return true;
        // Most entries have no attribute on either side, which one size query each tells; only otherwise are they read.
        return (lower.HasXattrs(name) || upper.HasXattrs(name))
            && !SameXattrs(AllXattrs(lower.PathOf(name)), AllXattrs(upper.PathOf(name)));
    }

    /// <summary>
    /// The comparison every change list uses. <paramref name="xattrsOf"/> says which attributes a path shows:
    /// all of them for plain trees, what a merged view shows for a driver reading its own layer directories.
    /// </summary>
    internal static bool Differs(string lower, FileStatus lowerStatus, string upper, FileStatus upperStatus,
        Func<string, Dictionary<string, byte[]>> xattrsOf) =>
        StatusDiffers(lowerStatus, upperStatus)
        || (lowerStatus.Kind == FileKind.Symlink && Fs.ReadLink(lower) != Fs.ReadLink(upper))
        // Last: attributes cost two system calls per name on each side, so they are read only when all else agrees.
        || !SameXattrs(xattrsOf(lower), xattrsOf(upper));

    /// <summary>Whether what statx tells of the two differs in a field a layer carries.</summary>
    private static bool StatusDiffers(FileStatus lower, FileStatus upper) =>
        lower.Kind != upper.Kind
        || lower.Permissions != upper.Permissions
        || lower.Uid != upper.Uid
        || lower.Gid != upper.Gid
        || lower.Mtime != upper.Mtime
        // A directory's size is the file system's bookkeeping for its entries, not something a layer carries.
        || (lower.Kind != FileKind.Directory && lower.Size != upper.Size)
        || (lower.Kind is FileKind.CharDevice or FileKind.BlockDevice
            && (lower.RdevMajor != upper.RdevMajor || lower.RdevMinor != upper.RdevMinor));

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

    /// <summary>A directory's names in the order changes are listed.</summary>
    internal static string[] SortedNames(string directory)
    {
        string[] names = DirectoryListing.Names(directory);
        Sort(names);
        return names;
    }

    private static List<string> SortedNames(DirectoryHandle directory)
    {
        List<string> names = directory.Names();
        Sort(CollectionsMarshal.AsSpan(names));
        return names;
    }

    /// <summary>
    /// Sorts one directory's names as <see cref="LayerPathComparer.CompareNames"/> orders them: a plain ordinal
    /// sort, then the opaque marker, which a directory holds at most once, moved to the front.
    /// </summary>
    private static void Sort(Span<string> names)
    {
        names.Sort(string.CompareOrdinal);
        int marker = names.IndexOf(LayerPathComparer.OpaqueMarker);
        if (marker <= 0) return;
        names[..marker].CopyTo(names[1..]);
        names[0] = LayerPathComparer.OpaqueMarker;
    }

    /// <summary>A child the walk reports (<paramref name="Change"/>), enters (<paramref name="Directory"/>), or both.</summary>
    private readonly record struct Child(string Name, ChangeKind? Change, DirectoryPair? Directory);

    /// <summary>One directory being walked: the children <see cref="CompareChildren"/> kept, one at a time.</summary>
    private sealed class Level(string path, List<Child> children)
    {
        private int next;

        public string Path { get; } = path;

        public bool TryNext(out Child child)
        {
            bool left = next < children.Count;
            child = left ? children[next++] : default;
            return left;
        }
    }
}
