using ICSharpCode.SharpZipLib;
using ZstdSharp;

namespace LayerTools.Archive;

/// <summary>
/// A decompressor whose decoding failures surface as <see cref="ArchiveCorruptException"/>, so callers
/// handle one exception type whatever the codec. I/O errors of the underlying stream pass through.
/// </summary>
internal sealed class DecoderStream : ForwardReadStream
{
    private readonly Stream _source;
    private readonly Func<Stream, Stream> _openDecoder;
    private readonly CompressionKind _kind;
    private Stream? _decoder;

    /// <param name="source">The compressed bytes; the decoder takes ownership of it once opened.</param>
    /// <param name="openDecoder">Makes the decoder. It runs on the first read, inside the error translation,
    /// because some decoders (bzip2) already decode in their constructor.</param>
    public DecoderStream(Stream source, Func<Stream, Stream> openDecoder, CompressionKind kind)
    {
        _source = source;
        _openDecoder = openDecoder;
        _kind = kind;
    }

    public override int Read(Span<byte> buffer)
    {
        try
        {
            _decoder ??= _openDecoder(_source);
            return _decoder.Read(buffer);
        }
        // The zstd and bzip2 decoders report a stream cut short as EndOfStreamException, and SharpZipLib's
        // bzip2 decoder indexes out of its tables on some damaged blocks instead of reporting them.
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ZstdException
                                      or SharpZipBaseException or IndexOutOfRangeException)
        {
            throw new ArchiveCorruptException($"the {_kind.ToString().ToLowerInvariant()} data is damaged or cut short ({e.Message})", inner: e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) (_decoder ?? _source).Dispose();
        base.Dispose(disposing);
    }
}
