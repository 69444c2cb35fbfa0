namespace LayerTools.Archive;

/// <summary>One entry's stored payload, read through its <see cref="TarReader"/> and dead once the reader moves on.</summary>
internal sealed class TarPayloadStream : EntryDataStream
{
    private readonly TarReader _reader;
    private readonly int _generation;

    public TarPayloadStream(TarReader reader, int generation, long length)
        : base(length)
    {
        _reader = reader;
        _generation = generation;
    }

    public override int Read(Span<byte> buffer)
    {
        int read = _reader.ReadPayload(_generation, buffer);
        Consumed += read;
        return read;
    }
}
