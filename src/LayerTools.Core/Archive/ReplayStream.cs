namespace LayerTools.Archive;

/// <summary>
/// Gives back bytes already taken from a forward-only stream, then continues with the stream: lets
/// format detection peek at magic bytes of a pipe or network stream without seeking.
/// </summary>
internal sealed class ReplayStream : ForwardReadStream
{
    private readonly byte[] _head;
    private readonly Stream _rest;
    private readonly bool _leaveOpen;
    private int _replayed;

    public ReplayStream(byte[] head, Stream rest, bool leaveOpen)
    {
        _head = head;
        _rest = rest;
        _leaveOpen = leaveOpen;
    }

    public override int Read(Span<byte> buffer)
    {
        if (_replayed == _head.Length) return _rest.Read(buffer);
        int count = Math.Min(buffer.Length, _head.Length - _replayed);
        _head.AsSpan(_replayed, count).CopyTo(buffer);
        _replayed += count;
        return count;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_leaveOpen) _rest.Dispose();
        base.Dispose(disposing);
    }
}
