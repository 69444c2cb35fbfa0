using System.Security.Cryptography;
using LayerTools.Archive;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>Detection and decoding of what the CLI tools make, and encoding the CLI tools accept.</summary>
public sealed class CompressionTests : IClassFixture<ArchiveSourceTree>
{
    private readonly ArchiveSourceTree _tree;

    public CompressionTests(ArchiveSourceTree tree) => _tree = tree;

    public static TheoryData<string, CompressionKind> Tools => new()
    {
        { "gzip", CompressionKind.Gzip },
        { "zstd", CompressionKind.Zstd },
        { "bzip2", CompressionKind.Bzip2 },
    };

    [Theory]
    [MemberData(nameof(Tools))]
    public void Detects_and_reads_what_the_tool_compressed_from_a_forward_only_stream(string tool, CompressionKind kind)
    {
        byte[] plain = File.ReadAllBytes(_tree.Archive("posix"));
        byte[] compressed = ExternalTool.Run(tool, "-c", _tree.Archive("posix"));

        using Stream decoded = Compression.OpenRead(new TricklingStream(compressed), out CompressionKind detected);

        Assert.Equal(kind, detected);
        var expected = TarContents.ReadAll(plain);
        var actual = TarContents.ReadAll(decoded);
        Assert.Equal(expected.Select(e => (e.Entry.Name, Convert.ToHexString(e.Content))), actual.Select(e => (e.Entry.Name, Convert.ToHexString(e.Content))));
    }

    [Fact]
    public void Uncompressed_input_passes_through_unchanged()
    {
        byte[] plain = File.ReadAllBytes(_tree.Archive("gnu"));
        using Stream decoded = Compression.OpenRead(new TricklingStream(plain), out CompressionKind kind);
        var copy = new MemoryStream();
        decoded.CopyTo(copy);

        Assert.Equal(CompressionKind.None, kind);
        Assert.Equal(plain, copy.ToArray());
    }

    [Fact]
    public void Empty_input_is_not_an_archive()
    {
        using Stream decoded = Compression.OpenRead(new MemoryStream(), out CompressionKind kind);
        using var reader = new TarReader(decoded);
        Assert.Equal(CompressionKind.None, kind);
        Assert.Throws<ArchiveCorruptException>(() => reader.Next());
    }

    [Theory]
    [InlineData(CompressionKind.Gzip, "gzip")]
    [InlineData(CompressionKind.Zstd, "zstd")]
    public void Our_compressed_output_passes_the_tool_test_and_decompresses_to_the_input(CompressionKind kind, string tool)
    {
        byte[] plain = File.ReadAllBytes(_tree.Archive("posix"));
        string path = _tree.Scratch($"ours.tar.{tool}");
        using (Stream compressor = Compression.OpenWrite(File.Create(path), kind))
            compressor.Write(plain);

        ExternalTool.Run(tool, "-t", path);
        Assert.Equal(plain, ExternalTool.Run(tool, "-dc", path));
        Assert.Equal(File.ReadAllBytes(path), Compress(plain, kind));
    }

    [Fact]
    public void Bzip2_cannot_be_written()
    {
        var error = Assert.Throws<NotSupportedException>(() => Compression.OpenWrite(new MemoryStream(), CompressionKind.Bzip2));
        Assert.Contains("gzip or zstd", error.Message);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("bzip2")]
    public void Damaged_compressed_data_surfaces_as_a_corrupt_archive(string tool)
    {
        byte[] compressed = ExternalTool.Run(tool, "-c", _tree.Archive("posix"));
        byte[] damaged = (byte[])compressed.Clone();
        for (int i = damaged.Length / 3; i < damaged.Length / 3 + 16; i++) damaged[i] ^= 0x5A;
        byte[] truncated = compressed[..(compressed.Length / 2)];

        foreach (byte[] input in new[] { damaged, truncated })
        {
            var error = Assert.Throws<ArchiveCorruptException>(() =>
            {
                using Stream decoded = Compression.OpenRead(new MemoryStream(input), out _);
                TarContents.ReadAll(decoded);
            });
            Assert.Contains("corrupt", error.Message);
        }
    }

    [Fact]
    public void Digest_streams_hash_and_count_both_directions()
    {
        byte[] data = File.ReadAllBytes(_tree.Archive("posix"));
        string expected = "sha256:" + Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

        var written = new DigestStream(new MemoryStream());
        written.Write(data, 0, 100);
        written.Write(data.AsSpan(100));
        Assert.Equal(expected, written.Digest);
        Assert.Equal(data.Length, written.Length);

        var read = new DigestStream(new TricklingStream(data));
        read.CopyTo(Stream.Null);
        Assert.Equal(expected, read.Digest);
        Assert.Equal(data.Length, read.Length);

        string sha256sum = ExternalTool.RunText("sha256sum", _tree.Archive("posix")).Split(' ')[0];
        Assert.Equal("sha256:" + sha256sum, read.Digest);
    }

    [Fact]
    public void One_pass_gives_both_the_uncompressed_and_the_compressed_digest()
    {
        byte[] plain = File.ReadAllBytes(_tree.Archive("posix"));
        var blob = new MemoryStream();
        var compressedSide = new DigestStream(blob, leaveOpen: true);
        var uncompressedSide = new DigestStream(Compression.OpenWrite(compressedSide, CompressionKind.Zstd));
        using (var writer = new TarWriter(uncompressedSide))
        using (var reader = new TarReader(new MemoryStream(plain), bytes => writer.WriteRaw(bytes)))
        {
            while (reader.Next() is { } entry) writer.WriteRaw(reader.OpenPayload(), entry.StoredSize);
            writer.Finish(writeEndMarker: false);
        }

        Assert.Equal("sha256:" + Convert.ToHexString(SHA256.HashData(plain)).ToLowerInvariant(), uncompressedSide.Digest);
        Assert.Equal("sha256:" + Convert.ToHexString(SHA256.HashData(blob.ToArray())).ToLowerInvariant(), compressedSide.Digest);
        Assert.Equal(blob.Length, compressedSide.Length);
    }

    private static byte[] Compress(byte[] data, CompressionKind kind)
    {
        var output = new MemoryStream();
        using (Stream compressor = Compression.OpenWrite(output, kind))
            compressor.Write(data);
        // MemoryStream keeps its buffer after the compressor disposed it.
        return output.ToArray();
    }
}
