using System.Text;
using ZstdSharp;

namespace LayerTools.Archive;

/// <summary>
/// Decodes the records of a tar-split stream (see <see cref="TarSplitFormat"/>) one field at a time, so a
/// record of any size is read in constant memory. Whatever does not decode ends in an
/// <see cref="InvalidDataException"/>; I/O errors of the stream underneath pass through.
/// </summary>
internal sealed class TarSplitReader : IDisposable
{
    private readonly Stream _records;

    /// <param name="sidecar">The record, read forward only; left open.</param>
    public TarSplitReader(Stream sidecar)
    {
        Span<byte> prefix = stackalloc byte[TarSplitFormat.PrefixLength];
        if (sidecar.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false) < prefix.Length
            || !prefix[..^1].SequenceEqual(TarSplitFormat.Magic))
            throw TarSplitFormat.Corrupt("it does not start with the tar-split signature");
        if (prefix[^1] != TarSplitFormat.Version)
            throw TarSplitFormat.Corrupt($"it has format version {prefix[^1]}, and this version of LayerTools reads version {TarSplitFormat.Version} only");
        // Fields are a byte or a few each; asking the decoder for each would cost a call into zstd apiece.
        _records = new BufferedStream(new DecompressionStream(sidecar, leaveOpen: true), 64 * 1024);
    }

    /// <summary>The next record's tag, or null at the end of the stream.</summary>
    public byte? NextTag()
    {
        Span<byte> tag = stackalloc byte[1];
        return Read(tag) == 0 ? null : tag[0];
    }

    public long ReadNumber(string what)
    {
        Span<byte> one = stackalloc byte[1];
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (Read(one) == 0) throw TarSplitFormat.Corrupt($"it ends inside the {what}");
            value |= (ulong)(one[0] & 0x7F) << shift;
            if (one[0] < 0x80)
            {
                if (value > long.MaxValue || (shift == 63 && one[0] > 1)) break;
                return (long)value;
            }
        }
        throw TarSplitFormat.Corrupt($"the {what} is out of range");
    }

    public void ReadExactly(Span<byte> buffer, string what)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = Read(buffer[total..]);
            if (read == 0) throw TarSplitFormat.Corrupt($"it ends inside the {what}");
            total += read;
        }
    }

    public string ReadPath()
    {
        long length = ReadNumber("path length");
        if (length > TarSplitFormat.MaxPathBytes) throw TarSplitFormat.Corrupt($"a path is {length} bytes long, more than {TarSplitFormat.MaxPathBytes}");
        byte[] bytes = new byte[length];
        ReadExactly(bytes, "path");
        string path;
        try
        {
            path = PaxRecords.StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw TarSplitFormat.Corrupt("a path is not valid UTF-8", e);
        }
        if (!TarSplitFormat.IsLayerPath(path)) throw TarSplitFormat.Corrupt($"'{path}' is not a plain path beneath the layer root");
        return path;
    }

    /// <summary>Copies <paramref name="length"/> bytes of the record to <paramref name="output"/>.</summary>
    public void CopyTo(Stream output, long length, byte[] buffer)
    {
        while (length > 0)
        {
            int read = Read(buffer.AsSpan(0, (int)Math.Min(buffer.Length, length)));
            if (read == 0) throw TarSplitFormat.Corrupt($"it ends {length} bytes into a run of tar headers");
            output.Write(buffer, 0, read);
            length -= read;
        }
    }

    /// <summary>Reads to the end, which makes the decoder check the frame's checksum.</summary>
    public void Drain(byte[] buffer)
    {
        while (Read(buffer) > 0) { }
    }

    public void Dispose() => _records.Dispose();

    private int Read(Span<byte> buffer)
    {
        try
        {
            return _records.Read(buffer);
        }
        // The zstd decoder reports a stream cut short as EndOfStreamException, a damaged one as ZstdException.
        catch (Exception e) when (e is ZstdException or EndOfStreamException)
        {
            throw TarSplitFormat.Corrupt($"its compressed data does not decode ({e.Message})", e);
        }
    }
}
