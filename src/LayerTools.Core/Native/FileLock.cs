using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// An open-file-description lock on a whole file. Unlike POSIX record locks it belongs to this open
/// file, not the process, so two stores opened in one process exclude each other too; the kernel drops
/// it when the descriptor closes, including when the process dies.
/// </summary>
public sealed unsafe class FileLock : IDisposable
{
    private int _fd;

    private FileLock(int fd) => _fd = fd;

    /// <summary>Takes an exclusive lock, waiting up to <paramref name="timeout"/>; null if it could not be had in time.</summary>
    public static FileLock? TryAcquire(string path, TimeSpan timeout)
    {
        int fd = Fs.Open(path, O_RDWR | O_CREAT, 0x1A4 /* 0644 */);
        var deadline = DateTime.UtcNow + timeout;
        int pause = 1;
        while (true)
        {
            flock fl = default;
            fl.l_type = (short)F_WRLCK;
            fl.l_whence = (short)SEEK_SET;
            if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return new FileLock(fd);
            int error = errno;
            if (error is not (Errno.EAGAIN or Errno.EACCES or Errno.EINTR))
            {
                close(fd);
                throw new NativeException("fcntl(F_OFD_SETLK)", path, error);
            }
            if (DateTime.UtcNow >= deadline)
            {
                close(fd);
                return null;
            }
            // Polling rather than F_OFD_SETLKW so the wait has a deadline and stays interruptible.
            Thread.Sleep(pause);
            pause = Math.Min(pause * 2, 50);
        }
    }

    public void Dispose()
    {
        if (_fd >= 0) close(_fd);
        _fd = -1;
    }
}
