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
        if (SetLock(fd, F_OFD_SETLK) == 0) return new FileLock(fd);
        // Busy: wait in the kernel (F_OFD_SETLKW), which hands the lock to a waiter when it is released.
        // Polling instead loses to a writer that takes the lock again at once, for as long as it keeps working.
        // The wait runs on its own thread so it can have a deadline; a wait that outlives it closes its
        // descriptor when the kernel finally answers, which drops the lock if it got it.
        int abandoned = 0;
        var wait = Task.Run(() =>
        {
            int error = SetLock(fd, F_OFD_SETLKW);
            if (Interlocked.Exchange(ref abandoned, 1) == 1) close(fd);
            return error;
        });
        if (!wait.Wait(timeout) && Interlocked.Exchange(ref abandoned, 1) == 0) return null;
        int result = wait.Result;
        if (result == 0) return new FileLock(fd);
        close(fd);
        throw new NativeException("fcntl(F_OFD_SETLKW)", path, result);
    }

    /// <summary>Applies a whole-file write lock; 0 or the errno.</summary>
    private static int SetLock(int fd, int command)
    {
        flock fl = default;
        fl.l_type = (short)F_WRLCK;
        fl.l_whence = (short)SEEK_SET;
        while (true)
        {
            if (fcntl(fd, command, &fl) == 0) return 0;
            int error = errno;
            if (error != Errno.EINTR) return error;
        }
    }

    public void Dispose()
    {
        if (_fd >= 0) close(_fd);
        _fd = -1;
    }
}
