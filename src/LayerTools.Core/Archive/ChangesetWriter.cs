using LayerTools.Changes;
using LayerTools.Native;
using Microsoft.Win32.SafeHandles;

namespace LayerTools.Archive;

/// <summary>
/// Writes an OCI image-spec changeset: the entries of a tree named by a list of changes, with deleted
/// paths as <c>.wh.NAME</c> whiteouts. Everything in the output comes from the tree and the change list,
/// never from the clock or the process, so a layer exported twice gives the same bytes.
/// </summary>
public static class ChangesetWriter
{
    public const string WhiteoutPrefix = ".wh.";
    private const string Activity = "Exporting layer";
    private const int ProgressEvery = 100;

    /// <summary>
    /// Writes the entries for <paramref name="changes"/> (in <see cref="LayerPathComparer"/> order) from
    /// the tree at <paramref name="upperRoot"/>; the caller finishes the archive. Returns how many entries were written.
    /// </summary>
    public static long Write(TarWriter tar, string upperRoot, IEnumerable<LayerChange> changes, Action<WorkProgress>? progress)
    {
        // A hardlink group inside the diff is written once as a file and then as links to that first name.
        var firstNames = new Dictionary<(ulong Device, ulong Inode), string>();
        // Every path is reached one component at a time from the root, never through a symlink: a directory
        // swapped for one while the export runs (by a container still writing to the layer) cannot lead it
        // out of the tree. Changes come in path order, so most paths are in the directory reached last.
        using var tree = new BeneathRoot(upperRoot);
        long entries = 0;
        foreach (LayerChange change in changes)
        {
            if (change.Kind == ChangeKind.Deleted)
                tar.WriteEntry(Whiteout(change.Path));
            else if (!WriteFromTree(tar, tree, change.Path, firstNames))
                continue;
            if (++entries % ProgressEvery == 0)
                progress?.Invoke(new WorkProgress(Activity, change.Path, tar.Position, 0));
        }
        return entries;
    }

    /// <summary>Writes one path's entry; false for a socket, which tar cannot store (GNU tar skips them too).</summary>
    private static bool WriteFromTree(TarWriter tar, BeneathRoot tree, string layerPath, Dictionary<(ulong, ulong), string> firstNames)
    {
        string relative = layerPath == "/" ? "" : layerPath[1..];
        string onDisk = relative.Length == 0 ? tree.Root : Path.Join(tree.Root, relative);
        int slash = relative.LastIndexOf('/');
        // The root is "." in itself.
        string inDirectory = relative.Length == 0 ? "." : relative[(slash + 1)..];
        if (!tree.TryEnter(slash < 0 ? "" : relative[..slash], out BeneathRoot.Block block))
            throw ChangedMeanwhile(Path.Join(tree.Root, block.Path), block.Kind is null ? "is gone" : "is no longer a directory");
        string name = EntryName(layerPath);
        FileStatus status = tree.Stat(inDirectory) ?? throw new NativeException("statx", onDisk, Errno.ENOENT);
        if (status.Kind == FileKind.Socket) return false;

        if (status.Kind != FileKind.Directory && status.LinkCount > 1)
        {
            if (firstNames.TryGetValue((status.Device, status.Inode), out string? first))
            {
                tar.WriteEntry(new TarEntry
                {
                    Name = name, Type = TarEntryType.Hardlink, LinkName = first,
                    Mode = status.Permissions, Uid = status.Uid, Gid = status.Gid, Mtime = status.Mtime,
                });
                return true;
            }
            firstNames.Add((status.Device, status.Inode), name);
        }

        var entry = new TarEntry
        {
            Name = name,
            Type = TypeOf(status.Kind),
            Mode = status.Permissions,
            Uid = status.Uid,
            Gid = status.Gid,
            Size = status.Kind == FileKind.Regular ? status.Size : 0,
            Mtime = status.Mtime,
            LinkName = status.Kind == FileKind.Symlink ? tree.ReadLink(inDirectory) : null,
            DevMajor = status.RdevMajor,
            DevMinor = status.RdevMinor,
            Xattrs = tree.ReadXattrs(inDirectory),
        };
        if (status.Kind != FileKind.Regular || status.Size == 0)
        {
            tar.WriteEntry(entry);
            return true;
        }
        int fd = tree.OpenFileForReading(inDirectory, status);
        if (fd < 0)
            throw ChangedMeanwhile(onDisk, "is no longer the file it was a moment before");
        using var file = new SafeFileHandle(fd, ownsHandle: true);
        // Fewer blocks than bytes means holes (as GNU tar judges it); only the data travels, so the file lands sparse.
        if (status.Blocks * 512 < status.Size && DataExtents(fd, status.Size, onDisk) is { } extents)
        {
            using var packed = new PackedExtents(file, extents);
            tar.WriteEntry(entry with { SparseMap = extents }, packed);
        }
        else
        {
            using var content = new FileStream(file, FileAccess.Read, bufferSize: 0);
            tar.WriteEntry(entry, content);
        }
        return true;
    }

    private static IOException ChangedMeanwhile(string path, string problem) =>
        new($"'{path}' {problem}: the layer changed while it was exported. Export it again once nothing writes to it.");

    /// <summary>
    /// The file's data extents (the writer ends the map), or null to store the file whole: when the extents
    /// cover it all (a compressing file system also uses fewer blocks than bytes) or are more than a reader
    /// takes in one map. Memory grows with the extents, never with the data.
    /// </summary>
    private static List<(long Offset, long Length)>? DataExtents(int fd, long size, string path)
    {
        var extents = new List<(long Offset, long Length)>();
        foreach (var (offset, length) in FileExtents.Data(fd, size, path))
        {
            // GNU tar reads each segment from a tar block boundary, so every extent but the last must be
            // whole 512-byte blocks. File systems report extents in their own blocks, which are; rounding
            // up (the bytes added are zeros from the hole) keeps that true on any file system.
            long end = Math.Min(size, (offset + length + 511) & ~511L);
            if (extents.Count > 0 && extents[^1].Offset + extents[^1].Length >= offset)
            {
                extents[^1] = (extents[^1].Offset, end - extents[^1].Offset);
                continue;
            }
            // One segment stays free for the writer's (size, 0) end of the map.
            if (extents.Count == SparseMapBuilder.MaxSegments - 1) return null;
            extents.Add((offset, end - offset));
        }
        return extents is [(0, var whole)] && whole == size ? null : extents;
    }

    /// <summary>A deleted path: an empty regular file named .wh.NAME in the deleted path's directory.</summary>
    private static TarEntry Whiteout(string layerPath)
    {
        int slash = layerPath.LastIndexOf('/');
        return new TarEntry { Name = layerPath[1..(slash + 1)] + WhiteoutPrefix + layerPath[(slash + 1)..], Type = TarEntryType.Regular };
    }

    /// <summary>"/etc/hosts" is stored as "etc/hosts"; the root directory itself as "./".</summary>
    private static string EntryName(string layerPath) => layerPath == "/" ? "./" : layerPath[1..];

    /// <summary>A file's data extents read back to back with pread: the packed content of a sparse entry.</summary>
    private sealed class PackedExtents : ForwardReadStream
    {
        private readonly SafeFileHandle _file;
        private readonly List<(long Offset, long Length)> _extents;
        private int _extent;
        private long _readInExtent;

        public PackedExtents(SafeFileHandle file, List<(long Offset, long Length)> extents)
        {
            _file = file;
            _extents = extents;
        }

        /// <summary>Returns 0 at the end of the last extent, or early if the file shrank; the tar writer then refuses the entry.</summary>
        public override int Read(Span<byte> buffer)
        {
            while (_extent < _extents.Count && _readInExtent == _extents[_extent].Length)
            {
                _extent++;
                _readInExtent = 0;
            }
            if (buffer.IsEmpty || _extent == _extents.Count) return 0;
            var (offset, length) = _extents[_extent];
            int read = RandomAccess.Read(_file, buffer[..(int)Math.Min(buffer.Length, length - _readInExtent)], offset + _readInExtent);
            _readInExtent += read;
            return read;
        }
    }

    private static TarEntryType TypeOf(FileKind kind) => kind switch
    {
        FileKind.Regular => TarEntryType.Regular,
        FileKind.Directory => TarEntryType.Directory,
        FileKind.Symlink => TarEntryType.Symlink,
        FileKind.Fifo => TarEntryType.Fifo,
        FileKind.CharDevice => TarEntryType.CharDevice,
        FileKind.BlockDevice => TarEntryType.BlockDevice,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
