using System.Text;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace LayerTools.Archive;

/// <summary>
/// Writes a tar-split record (see <see cref="TarSplitFormat"/>) while a tarball is applied to a layer:
/// the tar's headers and padding verbatim and, for each payload, only which file of the layer holds it.
/// Memory stays constant whatever the archive's size: the record streams out as the tar is read.
/// </summary>
/// <remarks>
/// Hand <see cref="RawSink"/> to the <see cref="TarReader"/>, call <see cref="Applied"/> for every entry
/// once it is on disk and before the next <see cref="TarReader.Next"/>, then <see cref="Complete"/> with the
/// digest of the whole uncompressed stream and <see cref="Dispose"/>, which ends the compressed stream. A
/// record disposed without <see cref="Complete"/> has no trailer, and the replayer refuses it.
/// </remarks>
public sealed class TarSplitRecorder : IDisposable
{
    /// <summary>Raw bytes arrive a block at a time; gathering them makes a record per run of headers instead of per block.</summary>
    private const int RawChunk = 64 * 1024;
    private const int CompressorChunk = 256 * 1024;

    private readonly Stream _output;
    private readonly byte[] _raw = new byte[RawChunk];
    private int _rawLength;
    private long _rawTotal;
    private long _payloadTotal;
    private bool _completed;
    private bool _disposed;

    /// <param name="output">Where the record goes, written forward only.</param>
    /// <param name="leaveOpen">Leave <paramref name="output"/> open when the recorder is disposed.</param>
    public TarSplitRecorder(Stream output, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("The tar-split record must be writable.", nameof(output));
        Span<byte> prefix = stackalloc byte[TarSplitFormat.PrefixLength];
        TarSplitFormat.Magic.CopyTo(prefix);
        prefix[^1] = TarSplitFormat.Version;
        output.Write(prefix);
        var compressor = new CompressionStream(output, TarSplitFormat.CompressionLevel, leaveOpen: leaveOpen);
        compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        // Record fields are a few bytes each, and the compressor is costly to call that often; it works on
        // gathered chunks on another core, beside the archive being applied.
        _output = new WriteBehindStream(compressor, CompressorChunk);
        RawSink = AppendRaw;
    }

    /// <summary>Pass to <see cref="TarReader"/>'s constructor: it receives every byte of the tar that is not payload.</summary>
    public TarRawSink RawSink { get; }

    /// <summary>
    /// Notes that <paramref name="entry"/> was applied and that its payload, if it has any, is now the
    /// content of <paramref name="relativePath"/> in the layer (normalised, no leading '/'; "" for the root).
    /// </summary>
    /// <exception cref="ArgumentException">The entry has payload that no file of the layer can give back:
    /// it is not a regular file, or its path is not a plain path beneath the root.</exception>
    public void Applied(TarEntry entry, string relativePath)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(relativePath);
        ThrowIfClosed();
        // Directories, links, devices, empty files and whiteouts are their headers alone; a whiteout is not
        // even a file in the layer any more.
        if (entry.StoredSize == 0) return;
        if (entry.Type != TarEntryType.Regular)
            throw new ArgumentException($"'{entry.Name}' is a {entry.Type} entry with {entry.StoredSize} bytes of data; only a regular file's data can be read back from a layer.", nameof(entry));
        if (!TarSplitFormat.IsLayerPath(relativePath))
            throw new ArgumentException($"'{relativePath}' (entry '{entry.Name}') is not a normalised path beneath the layer root.", nameof(relativePath));
        byte[] path = Encoding.UTF8.GetBytes(relativePath);
        if (path.Length > TarSplitFormat.MaxPathBytes)
            throw new ArgumentException($"The path of entry '{entry.Name}' is longer than {TarSplitFormat.MaxPathBytes} bytes.", nameof(relativePath));

        FlushRaw();
        _output.WriteByte(TarSplitFormat.Payload);
        WriteNumber(path.Length);
        _output.Write(path);
        WriteNumber(entry.Size);
        WriteNumber(entry.StoredSize);
        WriteNumber(entry.SparseMap?.Count ?? 0);
        long end = 0;
        foreach (var (offset, length) in entry.SparseMap ?? [])
        {
            WriteNumber(offset - end);
            WriteNumber(length);
            end = offset + length;
        }
        _payloadTotal += entry.StoredSize;
    }

    /// <summary>
    /// Writes the trailer: the length and digest ("sha256:" and hex) of the whole uncompressed tar stream,
    /// trailing bytes included, which a replay must reproduce. Call it after the reader has reached the
    /// end; then <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The bytes recorded do not add up to <paramref name="uncompressedSize"/>:
    /// an entry with payload was not reported to <see cref="Applied"/>, so the record could never replay.</exception>
    public void Complete(string uncompressedDigest, long uncompressedSize)
    {
        ArgumentNullException.ThrowIfNull(uncompressedDigest);
        ArgumentOutOfRangeException.ThrowIfNegative(uncompressedSize);
        ThrowIfClosed();
        byte[] digest = ParseDigest(uncompressedDigest);
        FlushRaw();
        if (_rawTotal + _payloadTotal != uncompressedSize)
            throw new InvalidOperationException(
                $"The tar stream is {uncompressedSize} bytes, but the tar-split record accounts for {_rawTotal} bytes of headers and {_payloadTotal} of file data: " +
                "an entry's data was read without Applied being called for it, or the stream was read past the tar reader.");
        _output.WriteByte(TarSplitFormat.End);
        WriteNumber(uncompressedSize);
        _output.Write(digest);
        _completed = true;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _output.Dispose();
    }

    private void AppendRaw(ReadOnlySpan<byte> bytes)
    {
        ThrowIfClosed();
        while (!bytes.IsEmpty)
        {
            int count = Math.Min(bytes.Length, _raw.Length - _rawLength);
            bytes[..count].CopyTo(_raw.AsSpan(_rawLength));
            _rawLength += count;
            bytes = bytes[count..];
            if (_rawLength == _raw.Length) FlushRaw();
        }
    }

    private void FlushRaw()
    {
        if (_rawLength == 0) return;
        _output.WriteByte(TarSplitFormat.Raw);
        WriteNumber(_rawLength);
        _output.Write(_raw, 0, _rawLength);
        _rawTotal += _rawLength;
        _rawLength = 0;
    }

    private void WriteNumber(long value)
    {
        Span<byte> buffer = stackalloc byte[10];
        _output.Write(buffer[..TarSplitFormat.WriteNumber(buffer, value)]);
    }

    private static byte[] ParseDigest(string digest)
    {
        string hex = digest.StartsWith(TarSplitFormat.DigestPrefix, StringComparison.Ordinal) ? digest[TarSplitFormat.DigestPrefix.Length..] : "";
        if (hex.Length != 2 * TarSplitFormat.DigestLength || !hex.All(Uri.IsHexDigit))
            throw new ArgumentException($"'{digest}' is not a SHA-256 digest (\"sha256:\" and 64 hex digits).", "uncompressedDigest");
        return Convert.FromHexString(hex);
    }

    private void ThrowIfClosed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) throw new InvalidOperationException("The tar-split record is already complete.");
    }
}
