namespace LayerTools.Archive;

/// <summary>
/// A write-only stream that writes to another stream from another core: the caller's bytes are gathered
/// into chunks that a work item writes on in order (see <see cref="ChunkHandoff"/>), so a costly stream
/// such as a compressor runs beside the caller instead of in its way. <see cref="Flush"/> and disposal
/// wait until every byte is written, and throw what writing threw.
/// </summary>
internal sealed class WriteBehindStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly ChunkHandoff _writing;
    private bool _disposed;

    public WriteBehindStream(Stream inner, int chunkSize, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanWrite) throw new ArgumentException("The stream to write behind must be writable.", nameof(inner));
        _inner = inner;
        _leaveOpen = leaveOpen;
        _writing = new ChunkHandoff((chunk, length) => _inner.Write(chunk, 0, length), chunkSize);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_disposed;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(ReadOnlySpan<byte> buffer) => _writing.Append(buffer);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    // Stream's own WriteByte allocates an array per byte.
    public override void WriteByte(byte value) => Write([value]);

    public override void Flush()
    {
        _writing.Drain();
        _inner.Flush();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            try
            {
                _writing.Drain();
            }
            finally
            {
                _writing.Dispose();
                if (!_leaveOpen) _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
