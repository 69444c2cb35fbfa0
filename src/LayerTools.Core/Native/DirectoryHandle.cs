using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// A directory held open while the names in it are listed and looked at. Every call on a name starts from
/// the directory's descriptor, so the kernel resolves one component rather than the whole path each time.
/// As in <see cref="Fs"/>, nothing follows a final symlink and a failure names the call and the full path.
/// One thread at a time: the handle reuses one buffer for the names it passes to the kernel.
/// </summary>
public sealed unsafe class DirectoryHandle : IDisposable
{
    // listxattrat (Linux 6.13) has this number on every architecture.
    private const nint ListXattrAtCall = 465;
    // dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), then the name; the same on every architecture.
    private const int DirentLengthOffset = 16;
    private const int DirentTypeOffset = 18;
    private const int DirentNameOffset = 19;

    // getdents64's number where it is known; elsewhere the names are listed by path, as .NET lists them.
    private static readonly nint? Getdents64Call = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.Arm => 217,
        Architecture.Arm64 => 61,
        _ => null,
    };

    // Set once a kernel (or a seccomp filter) refuses listxattrat; path-based llistxattr answers the same question.
    private static volatile bool s_noListXattrAt;

    private int _fd;
    private byte[] _name = new byte[256];
    private string? _encoded;

    private DirectoryHandle(string path, int fd)
    {
        Path = path;
        _fd = fd;
    }

    public string Path { get; }

    /// <summary>Opens a directory; a symlink in its place is refused (ELOOP or ENOTDIR), not followed.</summary>
    public static DirectoryHandle Open(string path)
    {
        int fd;
        fixed (byte* p = Fs.Utf8(path))
            fd = openat(AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) throw new NativeException("open", path, errno);
        return new DirectoryHandle(path, fd);
    }

    /// <summary>Every name in the directory but "." and "..", in the order the file system lists them.</summary>
    public List<string> Names()
    {
        if (Getdents64Call is null) return [.. DirectoryListing.Names(Path)];
        var names = new List<string>();
        VisitEntries(_fd, Path, (name, _) =>
        {
            if (!name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8)) names.Add(Encoding.UTF8.GetString(name));
            return true;
        });
        return names;
    }

    /// <summary>Sees one directory entry: its name and its d_type; false stops the listing.</summary>
    internal delegate bool EntryVisitor(ReadOnlySpan<byte> name, byte type);

    /// <summary>Lists the directory open as <paramref name="fd"/> with getdents64, "." and ".." included, until <paramref name="visit"/> says stop.</summary>
    internal static void VisitEntries(int fd, string path, EntryVisitor visit)
    {
        nint call = Getdents64Call
            ?? throw new PlatformNotSupportedException($"getdents64 has no known syscall number on {RuntimeInformation.ProcessArchitecture}");
        byte[] buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            fixed (byte* b = buffer)
            {
                while (true)
                {
                    nint n = syscall(call, fd, (nint)b, buffer.Length);
                    if (n < 0) throw new NativeException("getdents64", path, Marshal.GetLastPInvokeError());
                    if (n == 0) return;
                    for (nint offset = 0; offset < n; offset += *(ushort*)(b + offset + DirentLengthOffset))
                    {
                        var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(b + offset + DirentNameOffset);
                        if (!visit(name, b[offset + DirentTypeOffset])) return;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public FileStatus Lstat(string name)
    {
        statx sx;
        int rc;
        fixed (byte* n = Encode(name))
            rc = statx(_fd, n, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
        if (rc != 0) throw new NativeException("statx", PathOf(name), errno);
        return FileStatus.From(sx);
    }

    /// <summary>Opens a file in the directory to read it, without updating its atime where the kernel permits that; the caller closes it with <see cref="Fs.Close"/>.</summary>
    public int OpenForReading(string name)
    {
        int fd;
        fixed (byte* n = Encode(name))
            fd = Fs.OpenForReadingAt(_fd, n);
        if (fd < 0) throw new NativeException("open", PathOf(name), errno);
        return fd;
    }

    public string ReadLink(string name)
    {
        fixed (byte* p = Encode(name))
            return Fs.ReadLinkAt(_fd, p, PathOf(name));
    }

    /// <summary>
    /// Whether the name has any extended attribute (a file system without them has none): one call that
    /// asks only for the size of the name list, as most entries have no attribute at all.
    /// </summary>
    public bool HasXattrs(string name)
    {
        if (s_noListXattrAt) return Xattrs.List(PathOf(name)).Count > 0;
        nint size;
        fixed (byte* n = Encode(name))
            size = syscall(ListXattrAtCall, _fd, (nint)n, AT_SYMLINK_NOFOLLOW, 0, 0);
        if (size >= 0) return size > 0;
        int error = Marshal.GetLastPInvokeError();
        if (error == Errno.EOPNOTSUPP) return false;
        if (error is not (Errno.ENOSYS or Errno.EPERM)) throw new NativeException("listxattrat", PathOf(name), error);
        s_noListXattrAt = true;
        return HasXattrs(name);
    }

    /// <summary>The full path of a name in the directory, for messages and for the calls that take a path.</summary>
    public string PathOf(string name) => System.IO.Path.Join(Path, name);

    public void Dispose()
    {
        if (_fd < 0) return;
        close(_fd);
        _fd = -1;
    }

    /// <summary>
    /// The name as NUL-terminated UTF-8 in the handle's buffer, valid until another name is encoded; the
    /// calls on one name usually come in a row, so the last name's bytes are kept.
    /// </summary>
    private byte[] Encode(string name)
    {
        if (ReferenceEquals(name, _encoded)) return _name;
        if (name.Contains('\0')) throw new ArgumentException($"a name contains a NUL character: '{name.Replace('\0', '?')}'", nameof(name));
        int needed = Encoding.UTF8.GetMaxByteCount(name.Length) + 1;
        if (_name.Length < needed) _name = new byte[needed];
        _name[Encoding.UTF8.GetBytes(name, _name)] = 0;
        _encoded = name;
        return _name;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint syscall(nint number, nint fd, nint path, nint flags, nint list, nint size);

    [DllImport("libc", SetLastError = true)]
    private static extern nint syscall(nint number, nint fd, nint buffer, nint count);
}
