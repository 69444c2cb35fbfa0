namespace LayerTools.Archive;

/// <summary>
/// A sparse file's logical content: zeros in the holes, and the packed segment data (stored back to back
/// in map order) at each segment's offset, up to the file's size.
/// </summary>
internal sealed class SparseContentStream : EntryDataStream
{
    private readonly Stream _packed;
    private readonly IReadOnlyList<(long Offset, long Length)> _map;
    private int _segment;

    public SparseContentStream(Stream packed, IReadOnlyList<(long Offset, long Length)> map, long length)
        : base(length)
    {
        _packed = packed;
        _map = map;
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || Consumed == Length) return 0;
        while (_segment < _map.Count && Consumed >= _map[_segment].Offset + _map[_segment].Length) _segment++;

        long holeEnd = _segment < _map.Count ? _map[_segment].Offset : Length;
        if (Consumed < holeEnd)
        {
            int zeros = (int)Math.Min(buffer.Length, holeEnd - Consumed);
            buffer[..zeros].Clear();
            Consumed += zeros;
            return zeros;
        }

        long segmentEnd = _map[_segment].Offset + _map[_segment].Length;
        int read = _packed.Read(buffer[..(int)Math.Min(buffer.Length, segmentEnd - Consumed)]);
        if (read == 0) throw new ArchiveCorruptException($"the sparse data ends at offset {Consumed}, inside a segment");
        Consumed += read;
        return read;
    }
}
