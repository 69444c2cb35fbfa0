namespace LayerTools.Archive;

/// <summary>
/// Collects a sparse file's data segments from whichever encoding the archive used (old-GNU header slots,
/// PAX 0.0/0.1 records, the 1.0 map in the data) and checks what the expansion relies on: segments in
/// ascending order without overlap, inside the logical size, and exactly as many bytes as are stored.
/// </summary>
internal sealed class SparseMapBuilder
{
    /// <summary>
    /// The most segments one file may have: 16 MiB of map. Real maps are far smaller (GNU tar merges
    /// adjacent data), and a declared count is never trusted for an allocation.
    /// </summary>
    public const int MaxSegments = 1 << 20;

    private readonly List<(long Offset, long Length)> _segments = [];
    private long _end;
    private long _dataBytes;

    public int Count => _segments.Count;

    /// <summary>Adds the next segment; null if it is acceptable, else what is wrong.</summary>
    public string? Add(long offset, long length)
    {
        if (_segments.Count == MaxSegments)
            return $"sparse map has more than {MaxSegments} segments";
        if (offset < 0 || length < 0 || offset > long.MaxValue - length)
            return $"sparse segment {_segments.Count} ({offset}, {length}) is out of range";
        if (offset < _end)
            return $"sparse segment {_segments.Count} at offset {offset} overlaps or precedes the previous one ending at {_end}";
        _segments.Add((offset, length));
        _end = offset + length;
        _dataBytes += length;
        return null;
    }

    /// <summary>Checks the whole map against the file's logical size and its stored bytes; null if it holds.</summary>
    public string? Validate(long realSize, long storedSize)
    {
        if (_end > realSize)
            return $"sparse map reaches offset {_end}, past the file's size {realSize}";
        if (_dataBytes != storedSize)
            return $"sparse map describes {_dataBytes} data bytes but the entry stores {storedSize}";
        return null;
    }

    public IReadOnlyList<(long Offset, long Length)> ToList() => _segments.ToArray();
}
