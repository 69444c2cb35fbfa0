using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;

namespace LayerTools.Archive;

/// <summary>
/// Passes bytes through unchanged, in either direction, while counting them and hashing them with
/// SHA-256: put one on each side of a compressor to get a layer's diff ID and its blob digest in one pass.
/// </summary>
/// <remarks>
/// SHA-256 runs at about 1 GB/s here, as slow as the file work around it, so the bytes are hashed on
/// another core: they are copied into chunks handed over in order, and the caller's reads and writes
/// go on meanwhile. At most <see cref="ChunksInFlight"/> chunks are out at once.
/// </remarks>
public sealed class DigestStream : Stream
{
    private const int ChunkSize = 1 << 20;
    private const int ChunksInFlight = 4;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    // Everything below is shared with the hashing work item and guarded by _gate.
    private readonly object _gate = new();
    private readonly Queue<(byte[] Chunk, int Length)> _queued = new();
    private readonly Stack<byte[]> _spare = new();
    private int _chunksOut;
    private bool _hashing;
    private Exception? _hashFailure;
    // The chunk being filled, owned by the caller's thread.
    private byte[]? _chunk;
    private int _filled;
    private long _count;
    private string? _finalDigest;

    public DigestStream(Stream inner, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The SHA-256 of the bytes passed so far, as "sha256:" and lowercase hex; still available after disposal.</summary>
    public string Digest
    {
        get
        {
            if (_finalDigest is not null) return _finalDigest;
            HandOver();
            WaitForHashing();
            ThrowIfHashFailed();
            return "sha256:" + Convert.ToHexString(_hash.GetCurrentHash()).ToLowerInvariant();
        }
    }

    public override bool CanRead => _inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => _inner.CanWrite;

    /// <summary>How many bytes have passed through: the stream is forward-only, so its length is what it has seen.</summary>
    public override long Length => _count;

    public override long Position
    {
        get => _count;
        set => throw new NotSupportedException("A digest covers the bytes in order; it cannot seek.");
    }

    public override int Read(Span<byte> buffer)
    {
        int read = _inner.Read(buffer);
        Append(buffer[..read]);
        return read;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _inner.Write(buffer);
        Append(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush() => _inner.Flush();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A digest covers the bytes in order; it cannot seek.");
    public override void SetLength(long value) => throw new NotSupportedException();

    private void Append(ReadOnlySpan<byte> bytes)
    {
        _count += bytes.Length;
        while (!bytes.IsEmpty)
        {
            _chunk ??= TakeChunk();
            int n = Math.Min(bytes.Length, _chunk.Length - _filled);
            bytes[..n].CopyTo(_chunk.AsSpan(_filled));
            _filled += n;
            bytes = bytes[n..];
            if (_filled == _chunk.Length) HandOver();
        }
    }

    /// <summary>A chunk to fill: a spare one, a new one while fewer than the limit are out, else the next one hashed.</summary>
    private byte[] TakeChunk()
    {
        lock (_gate)
        {
            while (true)
            {
                ThrowIfHashFailed();
                if (_spare.TryPop(out byte[]? chunk)) return chunk;
                if (_chunksOut < ChunksInFlight)
                {
                    _chunksOut++;
                    return ArrayPool<byte>.Shared.Rent(ChunkSize);
                }
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Queues the chunk being filled for hashing, and starts the hashing work item if none runs.</summary>
    private void HandOver()
    {
        if (_chunk is null) return;
        lock (_gate)
        {
            _queued.Enqueue((_chunk, _filled));
            if (!_hashing)
            {
                _hashing = true;
                ThreadPool.UnsafeQueueUserWorkItem(_ => HashQueued(), null);
            }
        }
        _chunk = null;
        _filled = 0;
    }

    private void HashQueued()
    {
        while (true)
        {
            (byte[] Chunk, int Length) next;
            lock (_gate)
            {
                if (!_queued.TryDequeue(out next) || _hashFailure is not null)
                {
                    _hashing = false;
                    Monitor.PulseAll(_gate);
                    return;
                }
            }
            try
            {
                _hash.AppendData(next.Chunk, 0, next.Length);
            }
            catch (Exception e)
            {
                lock (_gate) _hashFailure = e;
            }
            lock (_gate)
            {
                _spare.Push(next.Chunk);
                Monitor.PulseAll(_gate);
            }
        }
    }

    private void WaitForHashing()
    {
        lock (_gate)
        {
            while (_hashing) Monitor.Wait(_gate);
        }
    }

    private void ThrowIfHashFailed()
    {
        if (_hashFailure is not null) ExceptionDispatchInfo.Throw(_hashFailure);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _finalDigest is null)
        {
            // Never throws: after a failed hash the digest stays unknown, and asking for it rethrows the failure.
            HandOver();
            WaitForHashing();
            if (_hashFailure is null) _finalDigest = "sha256:" + Convert.ToHexString(_hash.GetCurrentHash()).ToLowerInvariant();
            foreach (byte[] chunk in _spare) ArrayPool<byte>.Shared.Return(chunk);
            _spare.Clear();
            _hash.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
