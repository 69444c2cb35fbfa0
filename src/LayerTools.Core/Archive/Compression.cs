using System.IO.Compression;
using ICSharpCode.SharpZipLib.BZip2;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace LayerTools.Archive;

/// <summary>Detects and undoes the compression of a layer stream, and compresses new layers.</summary>
public static class Compression
{
    /// <summary>The longest magic number checked (zstd's four bytes).</summary>
    private const int MagicLength = 4;

    /// <summary>Recognises gzip (1f 8b), zstd (28 b5 2f fd) and bzip2 ("BZh" and a block-size digit); anything else is taken as uncompressed.</summary>
    public static CompressionKind Detect(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return CompressionKind.Gzip;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD])) return CompressionKind.Zstd;
        // The block-size digit keeps a plain tar whose first name starts with "BZh" from passing as bzip2.
        if (head.Length >= 4 && head.StartsWith("BZh"u8) && head[3] is >= (byte)'1' and <= (byte)'9') return CompressionKind.Bzip2;
        return CompressionKind.None;
    }

    /// <summary>
    /// Returns the decompressed view of <paramref name="input"/>, which may be forward-only: the magic bytes
    /// are peeked and replayed, never sought. Damaged compressed data surfaces as
    /// <see cref="ArchiveCorruptException"/> when read. Disposing the result disposes the input unless
    /// <paramref name="leaveOpen"/>.
    /// </summary>
    /// <remarks>.NET's gzip decoder neither checks the trailer's CRC nor notices a stream cut short; the
    /// tar reader catches a cut inside an entry, and a layer's digest catches the rest.</remarks>
    public static Stream OpenRead(Stream input, out CompressionKind kind, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        byte[] head = new byte[MagicLength];
        int length = 0;
        while (length < head.Length)
        {
            int read = input.Read(head, length, head.Length - length);
            if (read == 0) break;
            length += read;
        }
        var replay = new ReplayStream(head[..length], input, leaveOpen);
        kind = Detect(head.AsSpan(0, length));
        return kind switch
        {
            CompressionKind.None => replay,
            CompressionKind.Gzip => new DecoderStream(replay, source => new GZipStream(source, CompressionMode.Decompress), kind),
            CompressionKind.Zstd => new DecoderStream(replay, source => new DecompressionStream(source, leaveOpen: false), kind),
            CompressionKind.Bzip2 => new DecoderStream(replay, source => new BZip2InputStream(source) { IsStreamOwner = true }, kind),
            _ => throw new InvalidOperationException($"no decoder for {kind}"),
        };
    }

    /// <summary>
    /// Returns a stream that compresses into <paramref name="output"/> and owns it: disposing it writes the
    /// end of the compressed stream and disposes <paramref name="output"/> (for <see cref="CompressionKind.None"/>
    /// it is <paramref name="output"/> itself). To keep the output open, hand in a wrapper such as a
    /// <see cref="DigestStream"/> created with leaveOpen. gzip uses the default level (as the gzip tool and Go do), since a layer is
    /// compressed once and transferred many times; zstd uses level 3 with a content checksum (as the zstd
    /// tool does), so any reader can verify it. bzip2 is read-only.
    /// </summary>
    public static Stream OpenWrite(Stream output, CompressionKind kind)
    {
        ArgumentNullException.ThrowIfNull(output);
        switch (kind)
        {
            case CompressionKind.None:
                return output;
            case CompressionKind.Gzip:
                return new GZipStream(output, CompressionLevel.Optimal);
            case CompressionKind.Zstd:
                var zstd = new CompressionStream(output, level: 3, leaveOpen: false);
                zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
                return zstd;
            case CompressionKind.Bzip2:
                throw new NotSupportedException("bzip2 layers can be read but not written: choose gzip or zstd for new layers.");
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown compression");
        }
    }
}
