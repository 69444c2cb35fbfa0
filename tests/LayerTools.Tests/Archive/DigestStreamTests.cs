using System.Security.Cryptography;
using LayerTools.Archive;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>The digest is hashed on another core in chunks; whatever the sizes of the writes and reads, it must be the plain SHA-256.</summary>
public sealed class DigestStreamTests
{
    private static readonly byte[] Data = MakeData(9 * (1 << 20) + 12345);

    [Theory]
    [InlineData(1)]
    [InlineData(512)]
    [InlineData(65536)]
    [InlineData((1 << 20) + 1)]
    [InlineData(9 * (1 << 20) + 12345)]
    public void Writes_of_any_size_give_the_sha256_of_the_bytes_and_pass_them_on_unchanged(int writeSize)
    {
        var sink = new MemoryStream();
        string digest;
        using (var stream = new DigestStream(sink, leaveOpen: true))
        {
            for (int offset = 0; offset < Data.Length; offset += writeSize)
                stream.Write(Data, offset, Math.Min(writeSize, Data.Length - offset));
            Assert.Equal(Data.Length, stream.Length);
            digest = stream.Digest;
        }

        Assert.Equal(Sha256(Data), digest);
        Assert.Equal(Data, sink.ToArray());
    }

    [Fact]
    public void Reads_are_hashed_and_the_digest_can_be_asked_for_midway_and_after_disposal()
    {
        var stream = new DigestStream(new MemoryStream(Data));
        byte[] buffer = new byte[300_000];
        int total = 0, half = Data.Length / 2;
        string? midway = null;
        for (int read; (read = stream.Read(buffer, 0, Math.Min(buffer.Length, midway is null ? half - total : buffer.Length))) > 0;)
        {
            total += read;
            if (total == half) midway = stream.Digest;
        }
        stream.Dispose();

        Assert.Equal(Data.Length, total);
        Assert.Equal(Sha256(Data.AsSpan(0, half).ToArray()), midway);
        Assert.Equal(Sha256(Data), stream.Digest);
    }

    [Fact]
    public void An_empty_stream_has_the_digest_of_no_bytes()
    {
        var stream = new DigestStream(Stream.Null);
        Assert.Equal(Sha256([]), stream.Digest);
        stream.Dispose();
        Assert.Equal(Sha256([]), stream.Digest);
    }

    private static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    private static byte[] MakeData(int length)
    {
        byte[] data = new byte[length];
        new Random(7).NextBytes(data);
        return data;
    }
}
