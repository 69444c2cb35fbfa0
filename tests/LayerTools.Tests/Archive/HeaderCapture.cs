namespace LayerTools.Tests.Archive;

/// <summary>A write-only stream that keeps the first bytes written and counts the rest: inspects the headers of an archive too big to hold.</summary>
public sealed class HeaderCapture(int keep) : Stream
{
    private readonly MemoryStream _head = new();
    private long _length;

    public byte[] Head => _head.ToArray();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int kept = (int)Math.Max(0, Math.Min(buffer.Length, keep - _head.Length));
        _head.Write(buffer[..kept]);
        _length += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
