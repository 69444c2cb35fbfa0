namespace LayerTools.Archive;

/// <summary>One entry's stored payload, read through its <see cref="TarReader"/> and dead once the reader moves on.</summary>
internal sealed class TarPayloadStream : ForwardReadStream
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
}
