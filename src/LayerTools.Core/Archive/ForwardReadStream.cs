namespace LayerTools.Archive;

/// <summary>
/// What every read-only, forward-only stream of the archive code shares: no seeking, no writing, no
/// length unless a subclass knows one. Subclasses implement <see cref="Read(Span{byte})"/>.
/// </summary>
internal abstract class ForwardReadStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException("This stream is read forward only; its length is not known.");

    public override long Position
    {
        get => throw new NotSupportedException("This stream is read forward only.");
        set => throw new NotSupportedException("This stream is read forward only.");
    }

    public abstract override int Read(Span<byte> buffer);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("This stream is read forward only.");
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
