namespace LayerTools.Archive;

/// <summary>
/// A sparse file's logical content: zeros in the holes, and the packed segment data (stored back to back
/// in map order) at each segment's offset, up to the file's size.
/// </summary>
internal sealed class SparseContentStream : ForwardReadStream
{
    private readonly Stream _packed;
    private readonly IReadOnlyList<(long Offset, long Length)> _map;
    private readonly long _length;
    private long _position;
    private int _segment;

    public SparseContentStream(Stream packed, IReadOnlyList<(long Offset, long Length)> map, long length)
    {
        _packed = packed;
        _map = map;
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
        if (buffer.IsEmpty || _position == _length) return 0;
        while (_segment < _map.Count && _position >= _map[_segment].Offset + _map[_segment].Length) _segment++;

        long holeEnd = _segment < _map.Count ? _map[_segment].Offset : _length;
        if (_position < holeEnd)
        {
            int zeros = (int)Math.Min(buffer.Length, holeEnd - _position);
            buffer[..zeros].Clear();
            _position += zeros;
            return zeros;
        }

        long segmentEnd = _map[_segment].Offset + _map[_segment].Length;
        int read = _packed.Read(buffer[..(int)Math.Min(buffer.Length, segmentEnd - _position)]);
        if (read == 0) throw new ArchiveCorruptException($"the sparse data ends at offset {_position}, inside a segment");
        _position += read;
        return read;
    }
}
