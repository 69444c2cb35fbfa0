using System.Buffers;
using System.Runtime.ExceptionServices;

namespace LayerTools.Archive;

/// <summary>
/// Hands a run of bytes to another core, in order: the producer's bytes are copied into pooled chunks,
/// and one thread-pool work item at a time passes each full chunk to the consumer while the producer
/// goes on. At most <see cref="ChunksInFlight"/> chunks are out at once, so memory stays bounded.
/// </summary>
/// <remarks>One producer thread; the consumer runs on one thread at a time and sees the chunks in order.</remarks>
internal sealed class ChunkHandoff : IDisposable
{
    private const int ChunksInFlight = 4;

    private readonly Action<byte[], int> _consume;
    private readonly int _chunkSize;
    // Everything below is shared with the consuming work item and guarded by _gate.
    private readonly object _gate = new();
    private readonly Queue<(byte[] Chunk, int Length)> _queued = new();
    private readonly Stack<byte[]> _spare = new();
    private int _chunksOut;
    private bool _consuming;
    private Exception? _failure;
    // The chunk being filled, owned by the producer's thread.
    private byte[]? _chunk;
    private int _filled;
    private bool _disposed;

    /// <param name="consume">Takes a chunk and the length of its bytes; the chunk is reused once it returns.</param>
    /// <param name="chunkSize">How many bytes are gathered before they are handed over.</param>
    public ChunkHandoff(Action<byte[], int> consume, int chunkSize)
    {
        _consume = consume;
        _chunkSize = chunkSize;
    }

    /// <summary>Copies <paramref name="bytes"/> for the consumer; throws the consumer's failure, if it had one.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
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

    /// <summary>Hands over what is gathered and waits until the consumer has had every byte; throws its failure, if it had one.</summary>
    public void Drain()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        HandOver();
        WaitForConsumer();
        ThrowIfFailed();
    }

    /// <summary>The consumer's failure, if it had one; the bytes after it were not consumed.</summary>
    public Exception? Failure
    {
        get
        {
            lock (_gate) return _failure;
        }
    }

    /// <summary>Lets the consumer finish what it was handed, without throwing, and returns the chunks to the pool.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        HandOver();
        WaitForConsumer();
        _disposed = true;
        foreach (byte[] chunk in _spare) ArrayPool<byte>.Shared.Return(chunk);
        _spare.Clear();
    }

    /// <summary>A chunk to fill: a spare one, a new one while fewer than the limit are out, else the next one consumed.</summary>
    private byte[] TakeChunk()
    {
        lock (_gate)
        {
            while (true)
            {
                ThrowIfFailed();
                if (_spare.TryPop(out byte[]? chunk)) return chunk;
                if (_chunksOut < ChunksInFlight)
                {
                    _chunksOut++;
                    return ArrayPool<byte>.Shared.Rent(_chunkSize);
                }
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Queues the chunk being filled, and starts the consuming work item if none runs.</summary>
    private void HandOver()
    {
        if (_chunk is null) return;
        lock (_gate)
        {
            _queued.Enqueue((_chunk, _filled));
            if (!_consuming)
            {
                _consuming = true;
                ThreadPool.UnsafeQueueUserWorkItem(_ => ConsumeQueued(), null);
            }
        }
        _chunk = null;
        _filled = 0;
    }

    private void ConsumeQueued()
    {
        while (true)
        {
            (byte[] Chunk, int Length) next;
            lock (_gate)
            {
                if (!_queued.TryDequeue(out next))
                {
                    _consuming = false;
                    Monitor.PulseAll(_gate);
                    return;
                }
            }
            try
            {
                if (_failure is null) _consume(next.Chunk, next.Length);
            }
            catch (Exception e)
            {
                lock (_gate) _failure = e;
            }
            lock (_gate)
            {
                _spare.Push(next.Chunk);
                Monitor.PulseAll(_gate);
            }
        }
    }

    private void WaitForConsumer()
    {
        lock (_gate)
        {
            while (_consuming) Monitor.Wait(_gate);
        }
    }

    private void ThrowIfFailed()
    {
        Exception? failure = Failure;
        if (failure is not null) ExceptionDispatchInfo.Throw(failure);
    }
}
