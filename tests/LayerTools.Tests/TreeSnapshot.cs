using System.Security.Cryptography;
using LayerTools.Native;
using Microsoft.Win32.SafeHandles;

namespace LayerTools.Tests;

/// <summary>
/// Everything a layer tree keeps, per path relative to its root ("/" is the root itself), taken without
/// following symlinks and without moving the atime of any file it reads, so two trees can be compared
/// field by field and a tree can be compared with itself before and after an operation.
/// </summary>
sealed class TreeSnapshot
{
    private static readonly EnumerationOptions AllEntries = new() { AttributesToSkip = 0, IgnoreInaccessible = false };

    private readonly SortedDictionary<string, Entry> entries;

    private TreeSnapshot(SortedDictionary<string, Entry> entries) => this.entries = entries;

    public IReadOnlyDictionary<string, Entry> Entries => entries;

    public sealed record Entry(
        FileKind Kind,
        uint Permissions,
        uint Uid,
        uint Gid,
        long? Size,
        Timestamp Mtime,
        Timestamp Atime,
        string? LinkTarget,
        uint RdevMajor,
        uint RdevMinor,
        string Xattrs,
        string? ContentHash,
        bool Sparse,
        ulong Device,
        ulong Inode)
    {
        /// <summary>The first path (in walk order) with the same inode, when the tree holds more than one name for it.</summary>
        public string? HardlinkGroup { get; init; }
    }

    public static TreeSnapshot Take(string root)
    {
        var entries = new SortedDictionary<string, Entry>(StringComparer.Ordinal);
        var order = new List<string>();
        var pending = new Stack<string>();
        pending.Push("/");
        while (pending.Count > 0)
        {
            string relative = pending.Pop();
            string path = relative == "/" ? root : root + relative;
            // Status first: reading a symlink or listing a directory may move its atime afterwards.
            FileStatus status = Fs.Lstat(path);
            entries[relative] = Describe(path, status);
            order.Add(relative);
            if (status.Kind != FileKind.Directory) continue;
            var names = Directory.EnumerateFileSystemEntries(path, "*", AllEntries).Select(Path.GetFileName).ToList();
            names.Sort(StringComparer.Ordinal);
            for (int i = names.Count - 1; i >= 0; i--)
                pending.Push((relative == "/" ? "/" : relative + "/") + names[i]);
        }

        var firstNames = new Dictionary<(ulong, ulong), string>();
        var nameCounts = new Dictionary<(ulong, ulong), int>();
        foreach (string relative in order)
        {
            var key = (entries[relative].Device, entries[relative].Inode);
            firstNames.TryAdd(key, relative);
            nameCounts[key] = nameCounts.GetValueOrDefault(key) + 1;
        }
        foreach (string relative in order)
        {
            var key = (entries[relative].Device, entries[relative].Inode);
            if (nameCounts[key] > 1) entries[relative] = entries[relative] with { HardlinkGroup = firstNames[key] };
        }
        return new TreeSnapshot(entries);
    }

    /// <summary>
    /// How this tree differs from <paramref name="other"/>, the expected one, as "path: field expected X got Y"
    /// lines. Atimes are compared only for the kinds named, as reading an entry may legitimately move them.
    /// </summary>
    public IReadOnlyList<string> DifferencesFrom(TreeSnapshot other, params FileKind[] compareAtimesOf)
    {
        var differences = new List<string>();
        foreach (var (path, expected) in other.entries)
        {
            if (!entries.TryGetValue(path, out Entry? got))
            {
                differences.Add($"{path}: missing (expected a {expected.Kind})");
                continue;
            }
            void Compare<T>(string field, T expectedValue, T gotValue)
            {
                if (!EqualityComparer<T>.Default.Equals(expectedValue, gotValue))
                    differences.Add($"{path}: {field} expected {Show(expectedValue)} got {Show(gotValue)}");
            }
            Compare("kind", expected.Kind, got.Kind);
            Compare("permissions", Convert.ToString(expected.Permissions, 8), Convert.ToString(got.Permissions, 8));
            Compare("uid", expected.Uid, got.Uid);
            Compare("gid", expected.Gid, got.Gid);
            Compare("size", expected.Size, got.Size);
            Compare("mtime", expected.Mtime, got.Mtime);
            if (compareAtimesOf.Contains(expected.Kind)) Compare("atime", expected.Atime, got.Atime);
            Compare("link target", expected.LinkTarget, got.LinkTarget);
            Compare("rdev major", expected.RdevMajor, got.RdevMajor);
            Compare("rdev minor", expected.RdevMinor, got.RdevMinor);
            Compare("xattrs", expected.Xattrs, got.Xattrs);
            Compare("content sha256", expected.ContentHash, got.ContentHash);
            Compare("sparse", expected.Sparse, got.Sparse);
            Compare("hardlink group", expected.HardlinkGroup, got.HardlinkGroup);
        }
        foreach (var (path, got) in entries)
        {
            if (!other.entries.ContainsKey(path)) differences.Add($"{path}: unexpected {got.Kind}");
        }
        return differences;
    }

    private static string Show<T>(T value) => value?.ToString() ?? "(none)";

    private static Entry Describe(string path, FileStatus status)
    {
        bool regular = status.Kind == FileKind.Regular;
        bool device = status.Kind is FileKind.CharDevice or FileKind.BlockDevice;
        string xattrs = string.Join(", ", Xattrs.Read(path)
            .Select(x => $"{x.Key}={Convert.ToHexString(x.Value)}")
            .Order(StringComparer.Ordinal));
        return new Entry(
            status.Kind,
            status.Permissions,
            status.Uid,
            status.Gid,
            regular || status.Kind == FileKind.Symlink ? status.Size : null,
            status.Mtime,
            status.Atime,
            status.Kind == FileKind.Symlink ? Fs.ReadLink(path) : null,
            device ? status.RdevMajor : 0,
            device ? status.RdevMinor : 0,
            xattrs,
            regular ? HashContent(path) : null,
            regular && status.Blocks * 512 < status.Size,
            status.Device,
            status.Inode);
    }

    private static string HashContent(string path)
    {
        // Through the native open so the read does not touch the atime a test may be watching.
        using var handle = new SafeFileHandle(Fs.OpenForReading(path), ownsHandle: true);
        using var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
