using LayerTools.Archive;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>The inner stream is read on another thread, a chunk at a time; the caller must see its bytes, its end and its failure exactly as the inner stream gave them.</summary>
public sealed class ReadAheadStreamTests
{
    private static readonly byte[] Data = MakeData(5 * (1 << 20) + 777);

    [Theory]
    [InlineData(1)]
    [InlineData(512)]
    [InlineData((1 << 20) + 3)]
    [InlineData(8 << 20)]
    public void Reads_of_any_size_give_the_bytes_in_order_then_the_end(int readSize)
    {
        using var stream = new ReadAheadStream(new ScriptedStream(Data, maxRead: 300_000));
        var copy = new MemoryStream();
        byte[] buffer = new byte[readSize];
        for (int read; (read = stream.Read(buffer, 0, buffer.Length)) > 0;) copy.Write(buffer, 0, read);

        Assert.Equal(Data, copy.ToArray());
        Assert.Equal(0, stream.Read(buffer, 0, buffer.Length));
    }

    [Fact]
    public void A_failure_of_the_inner_stream_comes_after_the_bytes_read_before_it()
    {
        var inner = new ScriptedStream(Data, maxRead: 100_000, failAt: 3_000_000);
        using var stream = new ReadAheadStream(inner);
        var copy = new MemoryStream();
        byte[] buffer = new byte[65536];

        var error = Assert.Throws<InvalidDataException>(() =>
        {
            for (int read; (read = stream.Read(buffer, 0, buffer.Length)) > 0;) copy.Write(buffer, 0, read);
        });

        Assert.Equal("bad block", error.Message);
        Assert.Equal(Data.AsSpan(0, 3_000_000).ToArray(), copy.ToArray());
    }

    [Fact]
    public void Disposal_midway_stops_the_reader_before_the_inner_stream_is_closed()
    {
        var inner = new ScriptedStream(Data, maxRead: 4096);
        var stream = new ReadAheadStream(inner, leaveOpen: true);
        byte[] buffer = new byte[10];
        Assert.Equal(10, stream.Read(buffer, 0, buffer.Length));

        stream.Dispose();
        long position = inner.Position;
        Thread.Sleep(50);

        Assert.Equal(position, inner.Position);
        Assert.False(inner.Disposed);
        Assert.Throws<ObjectDisposedException>(() => stream.Read(buffer, 0, buffer.Length));
        new ReadAheadStream(inner).Dispose();
        Assert.True(inner.Disposed);
    }

    /// <summary>Returns at most <c>maxRead</c> bytes a read, and fails once it reaches <c>failAt</c>.</summary>
    private sealed class ScriptedStream(byte[] data, int maxRead, long failAt = -1) : MemoryStream(data, writable: false)
    {
        public bool Disposed { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position == failAt) throw new InvalidDataException("bad block");
            int limit = (int)Math.Min(maxRead, failAt < 0 ? int.MaxValue : failAt - Position);
            return base.Read(buffer, offset, Math.Min(count, limit));
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    private static byte[] MakeData(int length)
    {
        byte[] data = new byte[length];
        new Random(5).NextBytes(data);
        return data;
    }
}
