using LayerTools.Archive;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>The bytes reach the inner stream on another core, in chunks; they must arrive whole and in order, and a failure must not be lost.</summary>
public sealed class WriteBehindStreamTests
{
    private const int ChunkSize = 4096;
    private static readonly byte[] Data = MakeData(50 * ChunkSize + 123);

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(ChunkSize)]
    [InlineData(3 * ChunkSize + 1)]
    public void Writes_of_any_size_arrive_whole_and_in_order(int writeSize)
    {
        var sink = new MemoryStream();
        using (var stream = new WriteBehindStream(sink, ChunkSize, leaveOpen: true))
        {
            for (int offset = 0; offset < Data.Length; offset += writeSize)
            {
                int count = Math.Min(writeSize, Data.Length - offset);
                if (count == 1) stream.WriteByte(Data[offset]);
                else stream.Write(Data, offset, count);
            }
        }

        Assert.Equal(Data, sink.ToArray());
    }

    [Fact]
    public void Flush_waits_until_every_byte_is_written_and_disposal_disposes_the_inner_stream()
    {
        var sink = new MemoryStream();
        var stream = new WriteBehindStream(sink, ChunkSize);
        stream.Write(Data, 0, ChunkSize + 10);

        stream.Flush();
        Assert.Equal(Data.AsSpan(0, ChunkSize + 10).ToArray(), sink.ToArray());

        stream.Dispose();
        Assert.Throws<ObjectDisposedException>(() => sink.Length);
    }

    [Fact]
    public void A_failed_write_is_thrown_by_a_later_write_flush_or_disposal()
    {
        var failing = new FailingStream(failAfter: 2 * ChunkSize);
        var stream = new WriteBehindStream(failing, ChunkSize);

        var thrown = Record.Exception(() =>
        {
            for (int i = 0; i < 20; i++) stream.Write(Data, i * ChunkSize, ChunkSize);
            stream.Flush();
        });
        Assert.IsType<IOException>(thrown);
        Assert.Equal("no space left", thrown.Message);
        Assert.Throws<IOException>(() => stream.Dispose());
        Assert.True(failing.Disposed);
    }

    private sealed class FailingStream(int failAfter) : MemoryStream
    {
        public bool Disposed { get; private set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (Length + count > failAfter) throw new IOException("no space left");
            base.Write(buffer, offset, count);
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
        new Random(11).NextBytes(data);
        return data;
    }
}
