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
        long entries = 0;
        foreach (LayerChange change in changes)
        {
            if (change.Kind == ChangeKind.Deleted)
                tar.WriteEntry(Whiteout(change.Path));
            else if (!WriteFromTree(tar, upperRoot, change.Path, firstNames))
                continue;
            if (++entries % ProgressEvery == 0)
                progress?.Invoke(new WorkProgress(Activity, change.Path, tar.Position, 0));
        }
        return entries;
    }

    /// <summary>Writes one path's entry; false for a socket, which tar cannot store (GNU tar skips them too).</summary>
    private static bool WriteFromTree(TarWriter tar, string upperRoot, string layerPath, Dictionary<(ulong, ulong), string> firstNames)
    {
        string onDisk = layerPath == "/" ? upperRoot : Path.Join(upperRoot, layerPath.AsSpan(1));
        string name = EntryName(layerPath);
        FileStatus status = Fs.Lstat(onDisk);
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
            LinkName = status.Kind == FileKind.Symlink ? Fs.ReadLink(onDisk) : null,
            DevMajor = status.RdevMajor,
            DevMinor = status.RdevMinor,
            Xattrs = Xattrs.Read(onDisk),
        };
        if (status.Kind != FileKind.Regular || status.Size == 0)
        {
            tar.WriteEntry(entry);
            return true;
        }
        int fd = Fs.OpenForReading(onDisk);
        using var content = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
        tar.WriteEntry(entry, content);
        return true;
    }

    /// <summary>A deleted path: an empty regular file named .wh.NAME in the deleted path's directory.</summary>
    private static TarEntry Whiteout(string layerPath)
    {
        int slash = layerPath.LastIndexOf('/');
        return new TarEntry { Name = layerPath[1..(slash + 1)] + WhiteoutPrefix + layerPath[(slash + 1)..], Type = TarEntryType.Regular };
    }

    /// <summary>"/etc/hosts" is stored as "etc/hosts"; the root directory itself as "./".</summary>
    private static string EntryName(string layerPath) => layerPath == "/" ? "./" : layerPath[1..];

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
