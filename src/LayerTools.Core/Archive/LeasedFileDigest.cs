using System.Buffers;
using System.Security.Cryptography;
using LayerTools.Native;
using Microsoft.Win32.SafeHandles;

namespace LayerTools.Archive;

/// <summary>
/// The SHA-256 of an open file's bytes from an offset to its end, hashed on a thread of its own from a
/// second reading of the file (the page cache serves both readings), so whoever reads the file for its
/// content never waits for the hash. A read lease (<see cref="FileLease"/>) makes the two readings read
/// the same bytes: while it holds, nobody has the file open for writing.
/// </summary>
/// <remarks>
/// SHA-256 cannot be split across cores, and a layer tarball's large files come in runs that the
/// reader consumes faster than one core hashes them: behind a reader that hashes, a whole run waits.
/// </remarks>
internal sealed class LeasedFileDigest : IDisposable
{
    private const int ChunkSize = 1 << 20;

    private readonly SafeFileHandle _file;
    private readonly FileLease _lease;
    private readonly string _path;
    private readonly Task<(string Digest, long Length)> _hashing;
    private volatile bool _stopping;

    private LeasedFileDigest(SafeFileHandle file, FileLease lease, string path, long offset)
    {
        _file = file;
        _lease = lease;
        _path = path;
        _hashing = Task.Factory.StartNew(() => Hash(offset), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Starts hashing <paramref name="file"/> from its position; null where no read lease can be had on it.</summary>
    public static LeasedFileDigest? TryStart(FileStream file)
    {
        if (!file.CanSeek || file.CanWrite) return null;
        // A descriptor of its own, for the lease and the second reading: the caller's stays the caller's.
        int fd;
        try
        {
            fd = Fs.Open($"/proc/self/fd/{file.SafeFileHandle.DangerousGetHandle()}", Tmds.Linux.LibC.O_RDONLY);
        }
        catch (NativeException)
        {
            return null;
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (FileLease.TryTake(fd) is not { } lease)
        {
            handle.Dispose();
            return null;
        }
        return new LeasedFileDigest(handle, lease, file.Name, file.Position);
    }

    /// <summary>
    /// Waits for the hash and returns it, given that the other reading read <paramref name="length"/>
    /// bytes from the same offset, to the end. Throws <see cref="LayerToolsException"/> (ArchiveChanged)
    /// if the file may have changed between the two readings.
    /// </summary>
    public string DigestOf(long length)
    {
        var (digest, hashed) = _hashing.GetAwaiter().GetResult();
        if (!_lease.Held)
            throw new LayerToolsException(LayerError.ArchiveChanged,
                $"'{_path}' was opened for writing while it was read, so its digest might not describe what was read; read it again once nothing writes to it.", _path);
        if (hashed != length)
            throw new InvalidOperationException($"The digest of '{_path}' is known only at the end of the file: {length} of its {hashed} bytes have been read.");
        return digest;
    }

    private (string, long) Hash(long offset)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long length = 0;
            int read;
            while (!_stopping && (read = RandomAccess.Read(_file, chunk.AsSpan(0, ChunkSize), offset + length)) > 0)
            {
                hash.AppendData(chunk, 0, read);
                length += read;
            }
            return ("sha256:" + Convert.ToHexString(hash.GetCurrentHash()).ToLowerInvariant(), length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Stops the hashing if it still runs, and releases the lease.</summary>
    public void Dispose()
    {
        _stopping = true;
        // Its failure, if any, was DigestOf's to report.
        try { _hashing.Wait(); } catch (AggregateException) { }
        _lease.Dispose();
        _file.Dispose();
    }
}
