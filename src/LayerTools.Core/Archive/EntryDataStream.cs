namespace LayerTools.Archive;

/// <summary>A tar entry's data: read forward only, of the length its header gives, counting what was read.</summary>
internal abstract class EntryDataStream(long length) : ForwardReadStream
{
    public override long Length => length;

    public override long Position
    {
        get => Consumed;
        set => throw new NotSupportedException("A tar entry's data is read forward only.");
    }

    /// <summary>How many bytes have been read so far.</summary>
    protected long Consumed { get; set; }
}
