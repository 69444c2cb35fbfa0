using System.Buffers;
using System.Runtime.ExceptionServices;

namespace LayerTools.Archive;

/// <summary>
/// Reads another stream ahead on a thread of its own: the reader fills pooled chunks while the caller
/// takes bytes from those already filled, so whatever the inner stream costs (system calls,
/// decompression, hashing) runs beside the caller instead of in its way. At most
/// <see cref="ChunksAhead"/> chunks are filled ahead. A failure reaches the caller after the bytes read
/// before it. Forward-only; one caller thread.
/// </summary>
/// <remarks>
/// Disposal waits for a read in progress, so the inner stream is never used after it, and its reads must
/// end by themselves: read ahead only what is known to end, such as a file.
/// </remarks>
internal sealed class ReadAheadStream : ForwardReadStream
{
    private const int ChunkSize = 1 << 20;
    private const int ChunksAhead = 4;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    // Everything below is shared with the reading thread and guarded by _gate.
    private readonly object _gate = new();
    private readonly Queue<(byte[] Chunk, int Length)> _filled = new();
    private readonly Stack<byte[]> _spare = new();
    private int _chunksOut;
    private bool _ended;
    private bool _stopping;
    private ExceptionDispatchInfo? _failure;
    private Task? _reading;
    // The chunk being taken from, owned by the caller's thread.
    private byte[]? _current;
    private int _offset;
    private int _length;
    private bool _disposed;

    public ReadAheadStream(Stream inner, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanRead) throw new ArgumentException("The stream to read ahead must be readable.", nameof(inner));
        _inner = inner;
        _leaveOpen = leaveOpen;
    }

    public override int Read(Span<byte> buffer)
    {
        ReadOnlySpan<byte> read = ReadView(buffer.Length);
        read.CopyTo(buffer);
        return read.Length;
    }

    /// <summary>Up to <paramref name="max"/> of the next bytes as a view of the chunk that holds them, not a copy: valid until the next read. Empty at the end.</summary>
    public ReadOnlySpan<byte> ReadView(int max)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (max == 0) return default;
        if ((_current is null || _offset == _length) && !TakeFilledChunk()) return default;
        int n = Math.Min(max, _length - _offset);
        ReadOnlySpan<byte> read = _current.AsSpan(_offset, n);
        _offset += n;
        return read;
    }

    /// <summary>Gives the used chunk back and waits for the next filled one; false at the end of the inner stream.</summary>
    private bool TakeFilledChunk()
    {
        _reading ??= Task.Factory.StartNew(ReadAhead, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        lock (_gate)
        {
            if (_current is not null)
            {
                _spare.Push(_current);
                _current = null;
                Monitor.PulseAll(_gate);
            }
            while (_filled.Count == 0 && !_ended) Monitor.Wait(_gate);
            if (_filled.TryDequeue(out var next))
            {
                (_current, _offset, _length) = (next.Chunk, 0, next.Length);
                return true;
            }
        }
        _failure?.Throw();
        return false;
    }

    private void ReadAhead()
    {
        try
        {
            while (true)
            {
                byte[] chunk;
                lock (_gate)
                {
                    while (!_stopping && _spare.Count == 0 && _chunksOut == ChunksAhead) Monitor.Wait(_gate);
                    if (_stopping) return;
                    if (_spare.TryPop(out byte[]? spare))
                    {
                        chunk = spare;
                    }
                    else
                    {
                        chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
                        _chunksOut++;
                    }
                }
                int read = _inner.Read(chunk, 0, ChunkSize);
                lock (_gate)
                {
                    if (read == 0)
                    {
                        _spare.Push(chunk);
                        return;
                    }
                    _filled.Enqueue((chunk, read));
                    Monitor.PulseAll(_gate);
                }
            }
        }
        catch (Exception e)
        {
            lock (_gate) _failure = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            lock (_gate)
            {
                _ended = true;
                Monitor.PulseAll(_gate);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            lock (_gate)
            {
                _stopping = true;
                Monitor.PulseAll(_gate);
            }
            // The reader never throws out of its task; this waits for it to be done with the inner stream.
            _reading?.Wait();
            if (_current is not null) _spare.Push(_current);
            foreach (var (chunk, _) in _filled) _spare.Push(chunk);
            foreach (byte[] chunk in _spare) ArrayPool<byte>.Shared.Return(chunk);
            _filled.Clear();
            _spare.Clear();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
