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
        int read = _reader.ReadPayload(_generation, buffer, view: false).Length;
        Consumed += read;
        return read;
    }

    /// <summary>
    /// Reads like <see cref="Read(Span{byte})"/>, but where the archive is read ahead the bytes come back as a
    /// view of its buffer, not a copy in <paramref name="buffer"/>: valid only until the next read. Empty at the end.
    /// </summary>
    public ReadOnlySpan<byte> ReadView(Span<byte> buffer)
    {
        ReadOnlySpan<byte> read = _reader.ReadPayload(_generation, buffer, view: true);
        Consumed += read.Length;
        return read;
    }
}
