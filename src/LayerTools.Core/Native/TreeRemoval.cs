using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// Removes a layer tree that may hold anything a root file system holds: read-only and 000 directories,
/// device nodes, any depth. Every call is made relative to an open directory and no symlink is followed,
/// so a process that still has the tree open (a container whose mount was detached lazily) cannot lead
/// the removal out of it by swapping a directory for a symlink. Never crosses into a mount inside the tree.
/// </summary>
public static unsafe class TreeRemoval
{
    private const int EISDIR = 21;
    private const uint OwnerAll = 0x1C0;

    public static void Remove(string root)
    {
        if (!Fs.TryLstat(root, out FileStatus rootStatus)) return;
        if (rootStatus.Kind != FileKind.Directory)
        {
            Fs.Unlink(root);
            return;
        }
        fixed (byte* p = Fs.Utf8(root))
            RemoveDirectory(AT_FDCWD, p, root, isRoot: true);
    }

    /// <summary>
    /// Removes <paramref name="name"/> (NUL-terminated) in the directory open as <paramref name="directoryFd"/>,
    /// a whole directory tree included; nothing there is fine. <paramref name="path"/> is for messages.
    /// </summary>
    internal static void RemoveAt(int directoryFd, byte* name, string path)
    {
        int error = Unlink(directoryFd, name);
        if (error == 0) return;
        if (error != EISDIR) throw new NativeException("unlinkat", path, error);
        RemoveDirectory(directoryFd, name, path, isRoot: false);
    }

    /// <summary>
    /// Unlinks a name in a directory: 0 once it is gone (or was never there), EISDIR for a directory, which
    /// the caller descends into, else the errno. Most entries are not directories, so one call removes them.
    /// </summary>
    private static int Unlink(int directoryFd, byte* name)
    {
        if (unlinkat(directoryFd, name, 0) == 0) return 0;
        int error = errno;
        return error == Errno.ENOENT ? 0 : error;
    }

    /// <summary>
    /// Depth first, with the open directories of the current path on an explicit stack: no recursion and
    /// no path from the root, so depth costs neither call stack nor PATH_MAX.
    /// </summary>
    private static void RemoveDirectory(int parentFd, byte* name, string path, bool isRoot)
    {
        var pending = new Stack<Level>();
        pending.Push(Level.Open(parentFd, name, path, isRoot));
        try
        {
            while (pending.Count > 0)
            {
                Level level = pending.Peek();
                if (level.NextName() is { } child)
                {
                    fixed (byte* n = child)
                    {
                        int error = Unlink(level.Fd, n);
                        if (error == 0) continue;
                        string childPath = level.PathOf(child);
                        if (error != EISDIR) throw new NativeException("unlinkat", childPath, error);
                        pending.Push(Level.Open(level.Fd, n, childPath, isRoot: false));
                    }
                    continue;
                }
                pending.Pop().Dispose();
                int parent = pending.TryPeek(out Level? above) ? above.Fd : parentFd;
                fixed (byte* n = level.Name)
                    if (unlinkat(parent, n, AT_REMOVEDIR) != 0) throw new NativeException("rmdir", level.Path, errno);
            }
        }
        finally
        {
            while (pending.TryPop(out Level? level)) level.Dispose();
        }
    }

    /// <summary>One open directory on the current path and the names in it still to remove.</summary>
    private sealed class Level : IDisposable
    {
        private readonly List<byte[]> _names;
        private int _next;

        private Level(int fd, byte[] name, string path, List<byte[]> names)
        {
            Fd = fd;
            Name = name;
            Path = path;
            _names = names;
        }

        public int Fd { get; private set; }
        /// <summary>The NUL-terminated name in the parent directory.</summary>
        public byte[] Name { get; }
        /// <summary>The path, for messages only.</summary>
        public string Path { get; }

        /// <summary>
        /// Opens the directory <paramref name="name"/> in <paramref name="parentFd"/>, refusing a symlink and a
        /// mount inside the tree, gives its owner all permissions (removing its entries needs write and search
        /// permission on it) and reads its names.
        /// </summary>
        public static Level Open(int parentFd, byte* name, string path, bool isRoot)
        {
            int fd = openat(parentFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (fd < 0 && errno == Errno.EACCES) fd = OpenUnreadable(parentFd, name, path);
            if (fd < 0) throw new NativeException("openat", path, errno);
            try
            {
                FileStatus status = StatusOf(fd, path);
                if (status.IsMountRoot && !isRoot)
                    throw new IOException($"'{path}' is a mount point inside a layer tree; unmount it before removing the layer.");
                if ((status.Permissions & OwnerAll) != OwnerAll && fchmod(fd, (ushort)(status.Permissions | OwnerAll)) != 0)
                    throw new NativeException("fchmod", path, errno);
                byte[] terminated = new byte[Utf8Length(name) + 1];
                new ReadOnlySpan<byte>(name, terminated.Length - 1).CopyTo(terminated);
                return new Level(fd, terminated, path, DirectoryListing.RawNames(fd, path));
            }
            catch
            {
                close(fd);
                throw;
            }
        }

        /// <summary>The next name to remove, NUL-terminated; null when none is left.</summary>
        public byte[]? NextName() => _next < _names.Count ? _names[_next++] : null;

        public string PathOf(byte[] name) => System.IO.Path.Join(Path, Encoding.UTF8.GetString(name, 0, name.Length - 1));

        public void Dispose()
        {
            if (Fd < 0) return;
            close(Fd);
            Fd = -1;
        }

        /// <summary>
        /// A directory its owner may not read (overlayfs leaves its work/work at mode 000) opens after a chmod
        /// made through a descriptor of the directory itself, so a symlink swapped in meanwhile is not followed.
        /// </summary>
        private static int OpenUnreadable(int parentFd, byte* name, string path)
        {
            int handle = openat(parentFd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (handle < 0) return -1;
            try
            {
                FileStatus status = StatusOf(handle, path);
                // fchmod does not take an O_PATH descriptor; its /proc link names the very inode it holds.
                Fs.Chmod($"/proc/self/fd/{handle}", status.Permissions | OwnerAll);
                fixed (byte* dot = ".\0"u8)
                    return openat(handle, dot, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            }
            finally
            {
                close(handle);
            }
        }

        private static FileStatus StatusOf(int fd, string path)
        {
            statx sx;
            fixed (byte* empty = "\0"u8)
                if (statx(fd, empty, AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) != 0) throw new NativeException("statx", path, errno);
            return FileStatus.From(sx);
        }

        private static int Utf8Length(byte* name)
        {
            int length = 0;
            while (name[length] != 0) length++;
            return length;
        }
    }
}
