using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// File operations confined to one directory tree. Every path is resolved from a descriptor of the root one
/// component at a time, never following a symlink, so nothing in the tree (a symlink an archive just made,
/// or one a lower layer holds) can redirect an operation outside it.
/// </summary>
/// <remarks>
/// <para>Paths are relative to the root, '/'-separated, without empty, "." or ".." components ("" is the
/// root itself); the caller normalises them. Names are single components.</para>
/// <para>Operations on names act in the current directory, chosen with <see cref="TryEnter"/>. The chain of
/// open directories from the root to it is kept, so a run of names in one directory, or a step into a
/// neighbour, costs no walk from the root. The chain cannot go stale: only names in the current
/// directory (one level below the chain's end) are ever created, replaced or removed.</para>
/// </remarks>
public sealed unsafe class BeneathRoot : IDisposable
{
    private static readonly int WalkFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    private static readonly int ReadDirectoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    private const int ELOOP = 40;
    // New nodes start private; their real mode is set after chown, which would clear special bits.
    private const ushort OwnerOnly = 0x180;

    // Index 0 is the root itself.
    private readonly List<(string Path, int Fd)> _chain = new();
    private byte[] _name = new byte[512];
    private byte[] _second = new byte[512];
    private bool _disposed;

    /// <summary>Opens <paramref name="root"/>, an existing directory; its own path is trusted and resolved as usual.</summary>
    public BeneathRoot(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        Root = root;
        int fd;
        fixed (byte* p = Fs.Utf8(root))
            fd = openat(AT_FDCWD, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) throw new NativeException("open", root, errno);
        _chain.Add(("", fd));
    }

    public string Root { get; }

    /// <summary>The current directory, relative to the root; the same string instance until it changes.</summary>
    public string CurrentPath => _chain[^1].Path;

    private int CurrentFd => _chain[^1].Fd;

    /// <summary>
    /// What stopped a walk: the path (relative to the root) of the component that is missing
    /// (<see cref="Kind"/> null) or is not a directory (a symlink is never entered, whatever it points to).
    /// </summary>
    public readonly record struct Block(string Path, FileKind? Kind);

    /// <summary>
    /// Makes <paramref name="directory"/> the current directory. On failure the current directory is the
    /// deepest one reached, the parent of <paramref name="block"/>'s path, so a missing component can be
    /// created there and the walk tried again.
    /// </summary>
    public bool TryEnter(string directory, out Block block)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        block = default;
        while (_chain.Count > 1 && !IsSameOrAncestor(CurrentPath, directory))
        {
            close(CurrentFd);
            _chain.RemoveAt(_chain.Count - 1);
        }
        while (CurrentPath.Length < directory.Length)
        {
            int start = CurrentPath.Length == 0 ? 0 : CurrentPath.Length + 1;
            int end = directory.IndexOf('/', start);
            if (end < 0) end = directory.Length;
            ReadOnlySpan<char> component = directory.AsSpan(start, end - start);
            int fd;
            fixed (byte* c = Encode(component, ref _name))
                fd = openat(CurrentFd, c, WalkFlags, 0);
            string path = end == directory.Length ? directory : directory[..end];
            if (fd < 0)
            {
                block = BlockedOpen(CurrentFd, errno, component, path);
                return false;
            }
            _chain.Add((path, fd));
        }
        return true;
    }

    /// <summary>What is at <paramref name="name"/> in the current directory, without following it; null if nothing is.</summary>
    public FileStatus? Stat(string name) => StatAt(CurrentFd, name, null);

    /// <summary>The target of the symlink <paramref name="name"/> in the current directory.</summary>
    public string ReadLink(string name)
    {
        fixed (byte* p = Encode(name, ref _name))
            return Fs.ReadLinkAt(CurrentFd, p, HostPath(name, current: true));
    }

    /// <summary>The extended attributes of <paramref name="name"/> in the current directory itself (a symlink's own).</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> ReadXattrs(string name)
    {
        // The l*xattr calls take only paths. /proc/self/fd/N names the very directory held open, whatever
        // its path has become, and the last component is not followed.
        try
        {
            return Xattrs.Read($"/proc/self/fd/{CurrentFd}/{name}");
        }
        catch (NativeException e)
        {
            throw new NativeException(e.Call, HostPath(name, current: true), e.Errno);
        }
    }

    /// <summary>
    /// Opens <paramref name="name"/> in the current directory for reading if it is still the regular file
    /// <paramref name="expected"/> describes (the same device and inode); -1 if it is not. Nothing else is
    /// opened for reading, so a device node or FIFO put in its place cannot be set off by the open.
    /// </summary>
    public int OpenFileForReading(string name, FileStatus expected)
    {
        int handle;
        fixed (byte* p = Encode(name, ref _name))
            handle = openat(CurrentFd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (handle < 0) throw new NativeException("open", HostPath(name, current: true), errno);
        try
        {
            FileStatus? now = StatAt(handle, "", Join(CurrentPath, name), AT_EMPTY_PATH);
            if (now is not { Kind: FileKind.Regular } found || found.Device != expected.Device || found.Inode != expected.Inode) return -1;
            // Opened again for reading through its /proc link, which names the inode just checked, not a path.
            int fd;
            fixed (byte* p = Fs.Utf8($"/proc/self/fd/{handle}"))
                fd = openat(AT_FDCWD, p, O_RDONLY | O_CLOEXEC | O_NOATIME, 0);
            // O_NOATIME is refused (EPERM) on files the caller does not own unless it has CAP_FOWNER.
            if (fd < 0 && errno == Errno.EPERM)
            {
                fixed (byte* p = Fs.Utf8($"/proc/self/fd/{handle}"))
                    fd = openat(AT_FDCWD, p, O_RDONLY | O_CLOEXEC, 0);
            }
            if (fd < 0) throw new NativeException("open", HostPath(name, current: true), errno);
            return fd;
        }
        finally
        {
            close(handle);
        }
    }

    /// <summary>The current directory's own status.</summary>
    public FileStatus StatCurrent() =>
        StatAt(CurrentFd, "", CurrentPath, AT_EMPTY_PATH) ?? throw new NativeException("statx", HostPath(CurrentPath), Errno.ENOENT);

    /// <summary>Creates a new, empty regular file (mode 0600) for writing; false if the name is taken.</summary>
    public bool TryCreateFile(string name, out OpenedFile file) => TryCreateFile(name, OwnerOnly, out file);

    /// <summary>
    /// Creates a new, empty regular file for writing, asking for <see cref="OpenedFile.CreationPermissions"/>
    /// of the mode it will have (the umask and the directory still have their say); false if the name is taken.
    /// </summary>
    public bool TryCreateFile(string name, uint permissions, out OpenedFile file)
    {
        int fd;
        fixed (byte* n = Encode(name, ref _name))
            fd = openat(CurrentFd, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (ushort)OpenedFile.CreationPermissions(permissions));
        if (fd < 0)
        {
            int error = errno;
            file = null!;
            return error == Errno.EEXIST ? false : throw new NativeException("openat", HostPath(name, current: true), error);
        }
        file = new OpenedFile(fd, this, Join(CurrentPath, name));
        return true;
    }

    /// <summary>Creates a directory; false if the name is taken.</summary>
    public bool TryMakeDirectory(string name, uint permissions)
    {
        fixed (byte* n = Encode(name, ref _name))
            return Created(mkdirat(CurrentFd, n, (ushort)permissions), "mkdirat", name);
    }

    /// <summary>Creates a symlink holding <paramref name="target"/> verbatim; false if the name is taken.</summary>
    public bool TryMakeSymlink(string target, string name)
    {
        fixed (byte* t = Encode(target, ref _second))
        fixed (byte* n = Encode(name, ref _name))
            return Created(symlinkat(t, CurrentFd, n), "symlinkat", name);
    }

    /// <summary>Creates a FIFO or device node (mode 0600); false if the name is taken.</summary>
    public bool TryMakeNode(string name, FileKind kind, uint major, uint minor)
    {
        uint mode = FileStatus.TypeBits(kind) | OwnerOnly;
        fixed (byte* n = Encode(name, ref _name))
            return Created(mknodat(CurrentFd, n, (ushort)mode, Fs.MakeDevice(major, minor)), "mknodat", name);
    }

    /// <summary>
    /// Opens the directory holding <paramref name="path"/> by a fresh walk (the current directory is left as
    /// it is) and checks that the path names something other than a directory. On failure
    /// <paramref name="block"/> says why; a block on <paramref name="path"/> itself with kind
    /// <see cref="FileKind.Directory"/> means the path is a directory.
    /// </summary>
    public bool TryOpenLinkSource(string path, out LinkSource source, out Block block)
    {
        source = default;
        int slash = path.LastIndexOf('/');
        string parent = slash < 0 ? "" : path[..slash];
        string name = path[(slash + 1)..];
        if (!TryWalk(parent, out int parentFd, out block)) return false;
        try
        {
            FileStatus? status = StatAt(parentFd, name, path);
            if (status is not { } found || found.Kind == FileKind.Directory)
            {
                block = new Block(path, status?.Kind);
                return false;
            }
            source = new LinkSource(parentFd, name, found);
            parentFd = -1;
            return true;
        }
        finally
        {
            if (parentFd >= 0) close(parentFd);
        }
    }

    /// <summary>Adds <paramref name="name"/> as another name of <paramref name="source"/>'s inode; false if the name is taken.</summary>
    public bool TryLink(LinkSource source, string name)
    {
        fixed (byte* s = Encode(source.Name, ref _second))
        fixed (byte* n = Encode(name, ref _name))
            return Created(linkat(source.DirectoryFd, s, CurrentFd, n, 0), "linkat", name);
    }

    /// <summary>Removes <paramref name="name"/>, a whole directory tree included; nothing there is fine.</summary>
    public void Remove(string name)
    {
        byte[] bytes = Encode(name, ref _name).ToArray();
        RemoveAt(CurrentFd, bytes, Join(CurrentPath, name));
    }

    /// <summary>
    /// Removes every child of the current directory for which <paramref name="keep"/> says no. A name
    /// that is not valid UTF-8 cannot be one the caller wants kept, and is removed.
    /// </summary>
    public void RemoveChildrenExcept(Predicate<string> keep)
    {
        foreach (byte[] child in DirectoryListing.RawNames(CurrentFd, HostPath(CurrentPath)))
        {
            string? name = Decode(child);
            if (name is not null && keep(name)) continue;
            RemoveAt(CurrentFd, child, Join(CurrentPath, name ?? Encoding.UTF8.GetString(child, 0, child.Length - 1)));
        }
    }

    /// <summary>Sets owner and group of <paramref name="name"/> itself (a symlink is not followed).</summary>
    public void SetOwner(string name, uint uid, uint gid)
    {
        fixed (byte* n = Encode(name, ref _name))
            Check(fchownat(CurrentFd, n, uid, gid, AT_SYMLINK_NOFOLLOW), "lchown", name);
    }

    /// <summary>Sets the mode of <paramref name="name"/>, which must not be a symlink (chmod would follow it).</summary>
    public void SetPermissions(string name, uint permissions)
    {
        fixed (byte* n = Encode(name, ref _name))
            Check(fchmodat(CurrentFd, n, (ushort)(permissions & FileStatus.PermissionMask), 0), "chmod", name);
    }

    /// <summary>
    /// Sets an extended attribute on <paramref name="name"/> itself, for nodes that cannot be opened safely
    /// (symlinks, devices, FIFOs). The path goes through the /proc link of the current directory's
    /// descriptor, which resolves to that very directory; lsetxattr does not follow the final component.
    /// </summary>
    public void SetXattr(string name, string attribute, byte[] value)
    {
        string viaProc = $"/proc/self/fd/{CurrentFd}/{name}";
        fixed (byte* p = Fs.Utf8(viaProc))
        fixed (byte* a = Fs.Utf8(attribute))
        fixed (byte* v = value)
        {
            if (lsetxattr(p, a, v, (nuint)value.Length, 0) < 0)
                throw new NativeException("lsetxattr", $"{HostPath(name, current: true)} [{attribute}]", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Sets access and modification times of <paramref name="name"/> itself, with nanoseconds.</summary>
    public void SetTimes(string name, Timestamp atime, Timestamp mtime)
    {
        timespec* times = stackalloc timespec[2];
        Fill(times, atime, mtime);
        fixed (byte* n = Encode(name, ref _name))
            Check(utimensat(CurrentFd, n, times, AT_SYMLINK_NOFOLLOW), "utimensat", name);
    }

    /// <summary>
    /// Opens the directory at <paramref name="path"/> to change its attributes, walking there as
    /// <see cref="TryEnter"/> does (the current directory becomes its parent); false with a block if it
    /// cannot be reached or is not a directory.
    /// </summary>
    public bool TryOpenDirectory(string path, out OpenedFile directory, out Block block)
    {
        directory = null!;
        int slash = path.LastIndexOf('/');
        string parent = slash < 0 ? "" : path[..slash];
        if (!TryEnter(parent, out block)) return false;
        int fd;
        fixed (byte* n = Encode(path.Length == 0 ? "." : path.AsSpan(slash + 1), ref _name))
            fd = openat(CurrentFd, n, ReadDirectoryFlags, 0);
        if (fd < 0)
        {
            block = BlockedOpen(CurrentFd, errno, path.AsSpan(slash + 1), path);
            return false;
        }
        directory = new OpenedFile(fd, this, path);
        return true;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var (_, fd) in _chain) close(fd);
        _chain.Clear();
    }

    /// <summary>
    /// Why opening <paramref name="name"/> in <paramref name="directoryFd"/> as a directory failed with <paramref name="error"/>:
    /// nothing is there, or something that is not a directory. Any other failure is thrown.
    /// </summary>
    private Block BlockedOpen(int directoryFd, int error, ReadOnlySpan<char> name, string path)
    {
        if (error == Errno.ENOENT) return new Block(path, null);
        // O_NOFOLLOW with O_DIRECTORY reports a symlink as ENOTDIR; ELOOP covers kernels that differ.
        if (error is Errno.ENOTDIR or ELOOP && StatAt(directoryFd, name, path) is { Kind: not FileKind.Directory } found)
            return new Block(path, found.Kind);
        throw new NativeException("openat", HostPath(path), error);
    }

    /// <summary>A fresh walk from the root that leaves the current directory alone; the caller closes the descriptor.</summary>
    private bool TryWalk(string directory, out int fd, out Block block)
    {
        // Close-on-exec like every other descriptor here, so a process started meanwhile inherits none.
        fd = fcntl(_chain[0].Fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) throw new NativeException("fcntl(F_DUPFD_CLOEXEC)", Root, errno);
        block = default;
        int start = 0;
        while (start < directory.Length)
        {
            int end = directory.IndexOf('/', start);
            if (end < 0) end = directory.Length;
            ReadOnlySpan<char> component = directory.AsSpan(start, end - start);
            int next;
            fixed (byte* c = Encode(component, ref _second))
                next = openat(fd, c, WalkFlags, 0);
            if (next < 0)
            {
                int error = errno;
                string path = directory[..end];
                try
                {
                    block = BlockedOpen(fd, error, component, path);
                }
                finally
                {
                    close(fd);
                }
                fd = -1;
                return false;
            }
            close(fd);
            fd = next;
            start = end + 1;
        }
        return true;
    }

    private FileStatus? StatAt(int directoryFd, ReadOnlySpan<char> name, string? pathForErrors, int extraFlags = 0)
    {
        statx sx;
        int rc;
        fixed (byte* n = Encode(name, ref _second))
            rc = statx(directoryFd, n, AT_SYMLINK_NOFOLLOW | extraFlags, STATX_BASIC_STATS, &sx);
        if (rc != 0)
        {
            int error = errno;
            if (error == Errno.ENOENT) return null;
            throw new NativeException("statx", pathForErrors is null ? HostPath(name.ToString(), current: true) : HostPath(pathForErrors), error);
        }
        return FileStatus.From(sx);
    }

    /// <summary>Removes a NUL-terminated name in a directory, descending into it if it is a directory (see <see cref="TreeRemoval"/>).</summary>
    private void RemoveAt(int directoryFd, byte[] name, string path)
    {
        fixed (byte* n = name)
            TreeRemoval.RemoveAt(directoryFd, n, HostPath(path));
    }

    private bool Created(int rc, string call, string name)
    {
        if (rc == 0) return true;
        int error = errno;
        return error == Errno.EEXIST ? false : throw new NativeException(call, HostPath(name, current: true), error);
    }

    private void Check(int rc, string call, string name, bool relativeToCurrent = true)
    {
        if (rc < 0) throw new NativeException(call, relativeToCurrent ? HostPath(name, current: true) : HostPath(name), errno);
    }

    private static bool IsSameOrAncestor(string ancestor, string path) =>
        ancestor.Length == 0 ||
        (path.StartsWith(ancestor, StringComparison.Ordinal) && (path.Length == ancestor.Length || path[ancestor.Length] == '/'));

    private static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    private string HostPath(string relative, bool current = false)
    {
        string path = current ? Join(CurrentPath, relative) : relative;
        return path.Length == 0 ? Root : Path.Join(Root, path);
    }

    /// <summary>A NUL-terminated name as a string, or null if it is not valid UTF-8.</summary>
    private static string? Decode(byte[] name)
    {
        try
        {
            return Strict.GetString(name, 0, name.Length - 1);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The name as NUL-terminated UTF-8 in a reused buffer, valid until the buffer's next use.</summary>
    private static ReadOnlySpan<byte> Encode(ReadOnlySpan<char> name, ref byte[] buffer)
    {
        if (name.Contains('\0')) throw new ArgumentException($"a name contains a NUL character: '{name.ToString().Replace('\0', '?')}'", nameof(name));
        int needed = Encoding.UTF8.GetMaxByteCount(name.Length) + 1;
        if (buffer.Length < needed) buffer = new byte[needed];
        int n = Encoding.UTF8.GetBytes(name, buffer);
        buffer[n] = 0;
        return buffer.AsSpan(0, n + 1);
    }

    private static void Fill(timespec* times, Timestamp atime, Timestamp mtime)
    {
        times[0].tv_sec = atime.Seconds;
        times[0].tv_nsec = (long_t)(long)atime.Nanoseconds;
        times[1].tv_sec = mtime.Seconds;
        times[1].tv_nsec = (long_t)(long)mtime.Nanoseconds;
    }

    /// <summary>A hard link's source: an open descriptor of its directory and its name there. Dispose closes the descriptor.</summary>
    public readonly struct LinkSource : IDisposable
    {
        internal LinkSource(int directoryFd, string name, FileStatus status)
        {
            DirectoryFd = directoryFd;
            Name = name;
            Status = status;
        }

        internal int DirectoryFd { get; }
        internal string Name { get; }

        /// <summary>What the source was when it was opened.</summary>
        public FileStatus Status { get; }

        public void Dispose()
        {
            if (Name is not null) close(DirectoryFd);
        }
    }

    /// <summary>
    /// A regular file or directory opened inside the tree, changed through its descriptor so no path is
    /// resolved again. Failures name the file by its host path.
    /// </summary>
    public sealed class OpenedFile : IDisposable
    {
        private static readonly byte[] EmptyPath = [0];
        private readonly int _fd;
        private readonly BeneathRoot _tree;
        private readonly string _path;
        private bool _closed;

        internal OpenedFile(int fd, BeneathRoot tree, string path)
        {
            _fd = fd;
            _tree = tree;
            _path = path;
        }

        /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>.</summary>
        public void WriteAt(ReadOnlySpan<byte> data, long offset)
        {
            fixed (byte* d = data)
            {
                for (int written = 0; written < data.Length;)
                {
                    long n = pwrite(_fd, d + written, (size_t)(data.Length - written), offset + written);
                    if (n < 0)
                    {
                        int error = errno;
                        if (error == Errno.EINTR) continue;
                        throw Failed("pwrite", error);
                    }
                    written += (int)n;
                }
            }
        }

        /// <summary>Copies <paramref name="size"/> bytes of the file open as <paramref name="source"/>, as <see cref="Fs.CopyContent"/> does.</summary>
        public void CopyContentFrom(int source, long size, bool sparse, ref bool clone) =>
            Fs.CopyContent(source, _fd, size, sparse, ref clone, _tree.HostPath(_path));

        /// <summary>Sets the file's length; growing it leaves a hole.</summary>
        public void SetLength(long length)
        {
            if (ftruncate(_fd, length) < 0) throw Failed("ftruncate", errno);
        }

        /// <summary>
        /// What to create a file with that will get <paramref name="permissions"/>: the permissions themselves,
        /// or 0600 when they have setuid, setgid or sticky bits, which only a chmod after the chown may set.
        /// </summary>
        public static uint CreationPermissions(uint permissions) =>
            (permissions & FileStatus.PermissionMask & ~0x1FFu) == 0 ? permissions & 0x1FF : OwnerOnly;

        /// <summary>
        /// Gives a file made by <see cref="TryCreateFile(string, uint, out OpenedFile)"/> its owner and
        /// permissions, changing only what its creation did not already get right: each chown or chmod is an
        /// inode update in the journal, while the check is one statx.
        /// </summary>
        public void SetOwnerAndPermissions(uint uid, uint gid, uint permissions)
        {
            statx sx;
            fixed (byte* empty = EmptyPath)
            {
                if (statx(_fd, empty, AT_EMPTY_PATH, STATX_UID | STATX_GID | STATX_MODE, &sx) < 0) throw Failed("statx", errno);
            }
            if (sx.stx_uid != uid || sx.stx_gid != gid) SetOwner(uid, gid);
            // chown clears only setuid and setgid, which creation never sets, so the mode is as statx saw it.
            if ((sx.stx_mode & FileStatus.PermissionMask) != (permissions & FileStatus.PermissionMask)) SetPermissions(permissions);
        }

        public void SetOwner(uint uid, uint gid)
        {
            if (fchown(_fd, uid, gid) < 0) throw Failed("fchown", errno);
        }

        public void SetPermissions(uint permissions)
        {
            if (fchmod(_fd, (ushort)(permissions & FileStatus.PermissionMask)) < 0) throw Failed("fchmod", errno);
        }

        public void SetXattr(string name, byte[] value)
        {
            fixed (byte* n = Fs.Utf8(name))
            fixed (byte* v = value)
            {
                if (fsetxattr(_fd, n, v, (nuint)value.Length, 0) < 0)
                    throw Failed("fsetxattr", Marshal.GetLastPInvokeError(), name);
            }
        }

        /// <summary>The names of the file's extended attributes.</summary>
        public IReadOnlyList<string> ListXattrs()
        {
            while (true)
            {
                long size = flistxattr(_fd, null, 0);
                if (size < 0) throw Failed("flistxattr", Marshal.GetLastPInvokeError());
                if (size == 0) return [];
                byte[] names = new byte[size];
                fixed (byte* n = names)
                {
                    long got = flistxattr(_fd, n, (nuint)names.Length);
                    if (got < 0)
                    {
                        int error = Marshal.GetLastPInvokeError();
                        if (error == Errno.ERANGE) continue; // grew between the two calls
                        throw Failed("flistxattr", error);
                    }
                    return Encoding.UTF8.GetString(names, 0, (int)got).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                }
            }
        }

        public void RemoveXattr(string name)
        {
            fixed (byte* n = Fs.Utf8(name))
            {
                if (fremovexattr(_fd, n) < 0) throw Failed("fremovexattr", Marshal.GetLastPInvokeError(), name);
            }
        }

        public void SetTimes(Timestamp atime, Timestamp mtime)
        {
            timespec* times = stackalloc timespec[2];
            Fill(times, atime, mtime);
            if (futimens(_fd, times) < 0) throw Failed("futimens", errno);
        }

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            close(_fd);
        }

        private NativeException Failed(string call, int error, string? attribute = null)
        {
            string path = _tree.HostPath(_path);
            return new NativeException(call, attribute is null ? path : $"{path} [{attribute}]", error);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern long flistxattr(int fd, byte* list, nuint size);

    [DllImport("libc", SetLastError = true)]
    private static extern int fremovexattr(int fd, byte* name);
}
