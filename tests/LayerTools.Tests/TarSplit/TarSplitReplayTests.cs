using LayerTools.Archive;
using Xunit;
using Xunit.Abstractions;
using static LayerTools.Tests.TarSplit.TarSplitHarness;

namespace LayerTools.Tests.TarSplit;

/// <summary>Archives made by GNU tar, recorded on import and replayed from the extracted files, come back byte for byte.</summary>
public sealed class TarSplitReplayTests(TarSplitSourceTree tree, ITestOutputHelper output) : IClassFixture<TarSplitSourceTree>, IDisposable
{
    private readonly TempDirectory _scratch = new();

    public static TheoryData<string> Variants => new(TarSplitSourceTree.Variants);

    [Theory]
    [MemberData(nameof(Variants))]
    public void Replay_from_the_extracted_files_gives_the_archive_back_exactly(string variant)
    {
        string archive = tree.Archive(variant);
        byte[] original = File.ReadAllBytes(archive);
        byte[] sidecar = Record(archive);
        string layer = Extract(archive, _scratch);

        byte[] replayed = Replay(sidecar, layer);

        output.WriteLine($"{variant}: tar {original.Length} bytes, tar-split {sidecar.Length} bytes ({100.0 * sidecar.Length / original.Length:F2}%)");
        Assert.Equal(original.Length, replayed.Length);
        Assert.Equal(Sha256(original), Sha256(replayed));
        Assert.True(Verify(sidecar, layer));
    }

    [Fact]
    public void The_fixture_exercises_record_padding_trailing_bytes_and_old_gnu_sparse_entries()
    {
        // GNU tar pads to 10240-byte records unless told otherwise; without that the padding case is untested.
        Assert.Equal(0, new FileInfo(tree.Archive("gnu")).Length % 10240);
        Assert.NotEqual(0, new FileInfo(tree.Archive("gnu-unblocked")).Length % 10240);
        byte[] trailing = File.ReadAllBytes(tree.Archive("gnu-trailing"));
        Assert.NotEqual(0, trailing[^1]);
        byte[] sparse = File.ReadAllBytes(tree.Archive("sparse-gnu"));
        Assert.Contains(Enumerable.Range(0, sparse.Length / 512), block => sparse[block * 512 + 156] == (byte)'S');
    }

    [Fact]
    public void The_record_holds_headers_but_not_file_data()
    {
        string archive = tree.Archive("posix");
        long tarLength = new FileInfo(archive).Length;
        byte[] sidecar = Record(archive);

        output.WriteLine($"posix: tar {tarLength} bytes, tar-split {sidecar.Length} bytes ({100.0 * sidecar.Length / tarLength:F3}%)");
        Assert.True(tarLength > TarSplitSourceTree.BigFileSize);
        Assert.True(sidecar.Length < tarLength / 100, $"the tar-split record is {sidecar.Length} bytes for a {tarLength}-byte tar");
    }

    [Fact]
    public void Empty_files_and_whiteouts_are_not_read_back()
    {
        string archive = tree.Archive("gnu");
        byte[] sidecar = Record(archive);
        string layer = Extract(archive, _scratch);
        // An applier turns ".wh." entries into whiteouts: no such file remains in the layer.
        File.Delete(Path.Join(layer, "tree/.wh.removed"));
        File.Delete(Path.Join(layer, "tree/empty"));

        Assert.Equal(Sha256(File.ReadAllBytes(archive)), Sha256(Replay(sidecar, layer)));
    }

    [Fact]
    public void Replay_leaves_the_record_stream_open_and_reads_it_forward_only()
    {
        string archive = tree.Archive("gnu-unblocked");
        byte[] sidecar = Record(archive);
        string layer = Extract(archive, _scratch);
        var stream = new ForwardOnlyStream(new MemoryStream(sidecar));
        var replayed = new MemoryStream();

        TarSplitReplayer.Replay(stream, layer, replayed);

        Assert.False(stream.Disposed);
        Assert.Equal(Sha256(File.ReadAllBytes(archive)), Sha256(replayed.ToArray()));
    }

    public void Dispose() => _scratch.Dispose();

    /// <summary>A pipe's view of a stream: no seeking, no length.</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public bool Disposed { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
