using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// A read lease on an open file (fcntl F_SETLEASE): it can be had only while nobody has the file open
/// for writing, and it holds until somebody opens it for writing or truncates it. Their open then
/// waits until the lease is released (or until /proc/sys/fs/lease-break-time runs out), and
/// <see cref="Held"/> turns false. So while the lease holds, the file's bytes cannot change.
/// </summary>
/// <remarks>
/// The lease belongs to the open file of the descriptor it was taken on, which stays the caller's to
/// close; the kernel drops the lease then too.
/// </remarks>
internal sealed class FileLease : IDisposable
{
    private readonly int _fd;
    private bool _released;

    private FileLease(int fd) => _fd = fd;

    /// <summary>Takes a read lease on <paramref name="fd"/>, open for reading only; null where the kernel refuses one (a writer has the file open, the caller does not own it, or the file system has no leases).</summary>
    public static FileLease? TryTake(int fd)
    {
        // A break signals the file's owner, which taking a lease makes this process: SIGIO, the default,
        // would end it. SIGURG is ignored unless handled, and clearing the owner afterwards sends nothing at all.
        if (fcntl(fd, F_SETSIG, SIGURG) < 0) return null;
        if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0) return null;
        fcntl(fd, F_SETOWN, 0);
        return new FileLease(fd);
    }

    /// <summary>Whether the lease still holds: false once anyone has asked to write the file since it was taken.</summary>
    public bool Held => !_released && fcntl(_fd, F_GETLEASE, 0) == F_RDLCK;

    public void Dispose()
    {
        if (_released) return;
        _released = true;
        fcntl(_fd, F_SETLEASE, F_UNLCK);
    }
}
