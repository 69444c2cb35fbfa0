namespace LayerTools.Archive;

/// <summary>One entry's stored payload, read through its <see cref="TarReader"/> and dead once the reader moves on.</summary>
internal sealed class TarPayloadStream : Stream
{
    private readonly TarReader _reader;
    private readonly int _generation;
    private readonly long _length;
    private long _position;

    public TarPayloadStream(TarReader reader, int generation, long length)
    {
        _reader = reader;
        _generation = generation;
        _length = length;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException("A tar entry's data is read forward only.");
    }

    public override int Read(Span<byte> buffer)
    {
        int read = _reader.ReadPayload(_generation, buffer);
        _position += read;
        return read;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A tar entry's data is read forward only.");
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
