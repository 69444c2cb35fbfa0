using LayerTools.Archive;
using LayerTools.Native;

namespace LayerTools.Tests.Apply;

/// <summary>A layer tar built in memory with <see cref="TarWriter"/>, one call per entry, names written exactly as given.</summary>
public sealed class LayerArchive
{
    public static readonly Timestamp DefaultTime = new(1_650_000_000, 123_456_789);

    private readonly MemoryStream _stream = new();
    private readonly TarWriter _writer;

    public LayerArchive() => _writer = new TarWriter(_stream, leaveOpen: true);

    public LayerArchive File(string name, string content = "", uint mode = 0x1A4, uint uid = 0, uint gid = 0,
        Timestamp? mtime = null, Timestamp? atime = null, IReadOnlyList<KeyValuePair<string, byte[]>>? xattrs = null)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(content);
        _writer.WriteEntry(
            Entry(name, TarEntryType.Regular, mode, uid, gid, mtime, atime, xattrs) with { Size = bytes.Length },
            new MemoryStream(bytes));
        return this;
    }

    public LayerArchive Directory(string name, uint mode = 0x1ED, uint uid = 0, uint gid = 0,
        Timestamp? mtime = null, Timestamp? atime = null, IReadOnlyList<KeyValuePair<string, byte[]>>? xattrs = null)
    {
        _writer.WriteEntry(Entry(name, TarEntryType.Directory, mode, uid, gid, mtime, atime, xattrs));
        return this;
    }

    public LayerArchive Symlink(string name, string target, uint uid = 0, uint gid = 0, Timestamp? mtime = null)
    {
        _writer.WriteEntry(Entry(name, TarEntryType.Symlink, 0x1FF, uid, gid, mtime, null, null) with { LinkName = target });
        return this;
    }

    public LayerArchive Hardlink(string name, string target)
    {
        _writer.WriteEntry(Entry(name, TarEntryType.Hardlink, 0x1A4, 0, 0, null, null, null) with { LinkName = target });
        return this;
    }

    public LayerArchive Fifo(string name, uint mode = 0x1A4)
    {
        _writer.WriteEntry(Entry(name, TarEntryType.Fifo, mode, 0, 0, null, null, null));
        return this;
    }

    /// <summary>Whiteouts are empty regular files named .wh.NAME (or .wh..wh..opq).</summary>
    public LayerArchive Whiteout(string name) => File(name, mode: 0);

    public byte[] ToArray()
    {
        _writer.Finish();
        return _stream.ToArray();
    }

    public static ApplyResult ApplyTo(string root, byte[] archive, Action<TarEntry, string>? applied = null, Action<WorkProgress>? progress = null)
    {
        using var reader = new TarReader(new MemoryStream(archive));
        return ChangesetApplier.Apply(reader, root, progress, applied);
    }

    private static TarEntry Entry(string name, TarEntryType type, uint mode, uint uid, uint gid, Timestamp? mtime, Timestamp? atime,
        IReadOnlyList<KeyValuePair<string, byte[]>>? xattrs) => new()
    {
        Name = name,
        Type = type,
        Mode = mode,
        Uid = uid,
        Gid = gid,
        Mtime = mtime ?? DefaultTime,
        Atime = atime,
        Xattrs = xattrs ?? [],
    };
}
