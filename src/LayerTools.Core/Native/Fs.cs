using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// Checked file-system system calls. Every call works on the path itself, never through a final
/// symlink, and turns a failure into a <see cref="NativeException"/> naming the call and path.
/// </summary>
public static unsafe class Fs
{
    private const int Ficlone = 0x40049409;

    public static FileStatus Lstat(string path)
    {
        if (!TryLstat(path, out FileStatus status, out int errno))
            throw new NativeException("statx", path, errno);
        return status;
    }

    /// <summary>Like <see cref="Lstat"/>, but a path that does not exist is an answer, not an error.</summary>
    public static bool TryLstat(string path, out FileStatus status)
    {
        if (TryLstat(path, out status, out int errno)) return true;
        if (errno is Errno.ENOENT or Errno.ENOTDIR) return false;
        throw new NativeException("statx", path, errno);
    }

    private static bool TryLstat(string path, out FileStatus status, out int errno)
    {
        statx sx;
        int rc;
        fixed (byte* p = Utf8(path))
            rc = statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
        if (rc != 0)
        {
            errno = LibC.errno;
            status = default;
            return false;
        }
        errno = 0;
        status = FileStatus.From(sx);
        return true;
    }

    public static void Mkdir(string path, uint permissions)
    {
        fixed (byte* p = Utf8(path))
            Check(mkdirat(AT_FDCWD, p, (ushort)permissions), "mkdir", path);
    }

    /// <summary>Creates a fifo, socket or device node.</summary>
    public static void Mknod(string path, FileKind kind, uint permissions, uint major, uint minor)
    {
        uint mode = FileStatus.TypeBits(kind) | (permissions & FileStatus.PermissionMask);
        fixed (byte* p = Utf8(path))
            Check(mknodat(AT_FDCWD, p, (ushort)mode, MakeDevice(major, minor)), "mknod", path);
    }

    public static void Symlink(string target, string path)
    {
        fixed (byte* t = Utf8(target))
        fixed (byte* p = Utf8(path))
            Check(symlinkat(t, AT_FDCWD, p), "symlink", path);
    }

    public static void Link(string existing, string path)
    {
        fixed (byte* e = Utf8(existing))
        fixed (byte* p = Utf8(path))
            Check(linkat(AT_FDCWD, e, AT_FDCWD, p, 0), "link", path);
    }

    public static string ReadLink(string path)
    {
        fixed (byte* p = Utf8(path))
            return ReadLinkAt(AT_FDCWD, p, path);
    }

    /// <summary>The target of the symlink <paramref name="name"/> (NUL-terminated) in a directory; <paramref name="pathForErrors"/> names it in a failure.</summary>
    // The buffer is written by the kernel before it is read, so clearing it first would be wasted work.
    [System.Runtime.CompilerServices.SkipLocalsInit]
    internal static string ReadLinkAt(int directoryFd, byte* name, string pathForErrors)
    {
        byte* buffer = stackalloc byte[4096];
        long n = readlinkat(directoryFd, name, buffer, 4096);
        if (n < 0) throw new NativeException("readlink", pathForErrors, errno);
        return Encoding.UTF8.GetString(buffer, (int)n);
    }

    /// <summary>Sets owner and group of the path itself (a symlink is not followed).</summary>
    public static void Lchown(string path, uint uid, uint gid)
    {
        fixed (byte* p = Utf8(path))
            Check(fchownat(AT_FDCWD, p, uid, gid, AT_SYMLINK_NOFOLLOW), "lchown", path);
    }

    public static void Chmod(string path, uint permissions)
    {
        fixed (byte* p = Utf8(path))
            Check(fchmodat(AT_FDCWD, p, (ushort)(permissions & FileStatus.PermissionMask), 0), "chmod", path);
    }

    /// <summary>Sets access and modification times with nanoseconds on the path itself.</summary>
    public static void SetTimes(string path, Timestamp atime, Timestamp mtime)
    {
        timespec* times = stackalloc timespec[2];
        times[0].tv_sec = atime.Seconds;
        times[0].tv_nsec = (long_t)(long)atime.Nanoseconds;
        times[1].tv_sec = mtime.Seconds;
        times[1].tv_nsec = (long_t)(long)mtime.Nanoseconds;
        fixed (byte* p = Utf8(path))
            Check(utimensat(AT_FDCWD, p, times, AT_SYMLINK_NOFOLLOW), "utimensat", path);
    }

    public static void Unlink(string path)
    {
        fixed (byte* p = Utf8(path))
            Check(unlinkat(AT_FDCWD, p, 0), "unlink", path);
    }

    public static void Rmdir(string path)
    {
        fixed (byte* p = Utf8(path))
            Check(unlinkat(AT_FDCWD, p, AT_REMOVEDIR), "rmdir", path);
    }

    /// <summary>Opens a file descriptor; the caller closes it with <see cref="Close"/>.</summary>
    public static int Open(string path, int flags, uint permissions = 0)
    {
        int fd;
        fixed (byte* p = Utf8(path))
            fd = openat(AT_FDCWD, p, flags | O_CLOEXEC, (ushort)permissions);
        if (fd < 0) throw new NativeException("open", path, errno);
        return fd;
    }

    /// <summary>Opens a file to read it without updating its atime where the kernel permits that.</summary>
    public static int OpenForReading(string path)
    {
        int fd;
        fixed (byte* p = Utf8(path))
            fd = OpenForReadingAt(AT_FDCWD, p);
        if (fd < 0) throw new NativeException("open", path, errno);
        return fd;
    }

    /// <summary>openat for reading with O_NOATIME where permitted; a negative result leaves errno set.</summary>
    internal static int OpenForReadingAt(int directoryFd, byte* name)
    {
        int fd = openat(directoryFd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME, 0);
        // O_NOATIME is refused (EPERM) on files the caller does not own unless it has CAP_FOWNER.
        if (fd < 0 && errno == Errno.EPERM)
            fd = openat(directoryFd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
        return fd;
    }

    public static void Close(int fd) => close(fd);

    public static void Fsync(int fd, string path) => Check(fsync(fd), "fsync", path);

    /// <summary>Flushes a directory's entries (after a rename into it) to disk.</summary>
    public static void FsyncDirectory(string path)
    {
        int fd = Open(path, O_RDONLY | O_DIRECTORY);
        try { Fsync(fd, path); }
        finally { close(fd); }
    }

    /// <summary>
    /// Copies a regular file's content from one descriptor to another: a reflink where the file system
    /// offers one, else in-kernel copies of the data extents only, so holes stay holes.
    /// </summary>
    /// <param name="sparse">Whether the file may have holes (fewer blocks than its size needs); only then are its extents looked up.</param>
    /// <param name="clone">Whether to try a reflink; cleared when the file system has none, so a tree copy asks once.</param>
    public static void CopyContent(int source, int target, long size, bool sparse, ref bool clone, string targetPath)
    {
        if (clone)
        {
            if (ioctl(target, Ficlone, source) == 0) return;
            if (errno is Errno.EOPNOTSUPP or Errno.ENOTTY or Errno.EXDEV) clone = false;
        }
        if (!sparse)
        {
            CopyRange(source, target, 0, size, targetPath);
            return;
        }
        foreach (var (offset, length) in FileExtents.Data(source, size, targetPath))
            CopyRange(source, target, offset, length, targetPath);
        Check(ftruncate(target, size), "ftruncate", targetPath);
    }

    private static void CopyRange(int source, int target, long offset, long length, string targetPath)
    {
        long sourceOffset = offset, targetOffset = offset;
        while (length > 0)
        {
            long n = copy_file_range(source, &sourceOffset, target, &targetOffset, (nuint)length, 0);
            if (n < 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error == Errno.EINTR) continue;
                if (error is Errno.EXDEV or Errno.EINVAL or Errno.EOPNOTSUPP or Errno.ENOSYS)
                {
                    CopyRangeByReading(source, target, sourceOffset, targetOffset, length, targetPath);
                    return;
                }
                throw new NativeException("copy_file_range", targetPath, error);
            }
            if (n == 0) break; // the source shrank while we copied
            length -= n;
        }
    }

    private static void CopyRangeByReading(int source, int target, long sourceOffset, long targetOffset, long length, string targetPath)
    {
        byte[] buffer = new byte[Math.Min(length, 1 << 20)];
        fixed (byte* b = buffer)
        {
            while (length > 0)
            {
                long n = pread(source, b, (size_t)(int)Math.Min(length, buffer.Length), sourceOffset);
                if (n < 0) throw new NativeException("pread", targetPath, errno);
                if (n == 0) break;
                for (long written = 0; written < n;)
                {
                    long w = pwrite(target, b + written, (size_t)(int)(n - written), targetOffset + written);
                    if (w < 0) throw new NativeException("pwrite", targetPath, errno);
                    written += w;
                }
                sourceOffset += n;
                targetOffset += n;
                length -= n;
            }
        }
    }

    internal static ulong MakeDevice(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) |
        ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    internal static void Check(int rc, string call, string? path)
    {
        if (rc < 0) throw new NativeException(call, path, errno);
    }

    /// <summary>The path as the NUL-terminated UTF-8 bytes the kernel takes.</summary>
    internal static byte[] Utf8(string path)
    {
        if (path.Contains('\0')) throw new ArgumentException($"path contains a NUL character: '{path.Replace('\0', '?')}'", nameof(path));
        byte[] bytes = new byte[Encoding.UTF8.GetMaxByteCount(path.Length) + 1];
        int n = Encoding.UTF8.GetBytes(path, bytes);
        bytes[n] = 0;
        return bytes;
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "copy_file_range")]
    private static extern long copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);
}
