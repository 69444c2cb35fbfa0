namespace LayerTools.Archive;

/// <summary>
/// The layout of a tar-split record: what a layer keeps of the tarball it was made from, so that
/// <see cref="TarSplitReplayer"/> can give the same bytes back while the file data stays in the layer only.
/// </summary>
/// <remarks>
/// <para>The file starts with the 8 bytes "LTSPLIT" and a version byte (1), outside the compression so a
/// later version may change it. Then comes one zstd frame with a content checksum, chosen over gzip
/// because .NET's gzip decoder never checks its CRC, so a damaged record would go unnoticed until the
/// replayed digest fails. Inside, records follow in tar stream order; numbers are unsigned LEB128:</para>
/// <list type="bullet">
/// <item><c>'R'</c> length, bytes: tar bytes that are not payload (headers, extension data, sparse maps,
/// padding, end blocks, trailing bytes), copied verbatim.</item>
/// <item><c>'P'</c> path length, UTF-8 path relative to the layer root, file size, stored size, segment
/// count, then per segment the gap after the previous segment's end and the length: an entry's payload,
/// read from the layer's file. The file must be exactly file size bytes long; with no segments the
/// whole file is the payload, else the segments' bytes back to back (a GNU sparse entry). An entry
/// without payload has no such record, so its file need not exist (a whiteout does not).</item>
/// <item><c>'E'</c> tar length, 32-byte SHA-256 of the whole uncompressed tar: the trailer. Nothing may
/// follow it, and a record without it is the remains of an import that did not finish.</item>
/// </list>
/// </remarks>
internal static class TarSplitFormat
{
    public static ReadOnlySpan<byte> Magic => "LTSPLIT"u8;

    public const byte Version = 1;

    public const int PrefixLength = 8;

    public const byte Raw = (byte)'R';
    public const byte Payload = (byte)'P';
    public const byte End = (byte)'E';

    public const int DigestLength = 32;

    /// <summary>The longest path accepted: as much as a tar reader takes from PAX records for one entry.</summary>
    public const int MaxPathBytes = PaxRecords.MaxDataSize;

    /// <summary>
    /// zstd's fastest regular level: the record is compressed on the importing thread, where level 3 took
    /// about a tenth of that thread's samples in a perf profile of imports, and tar headers compress as
    /// well at 1 (the Debian rootfs's record: 330 KB, against 343 KB at 3).
    /// </summary>
    public const int CompressionLevel = 1;

    public const string DigestPrefix = "sha256:";

    public static int WriteNumber(Span<byte> buffer, long value)
    {
        ulong rest = (ulong)value;
        int length = 0;
        while (rest >= 0x80)
        {
            buffer[length++] = (byte)(rest | 0x80);
            rest >>= 7;
        }
        buffer[length++] = (byte)rest;
        return length;
    }

    /// <summary>Refuses a path that could leave the layer root or name it in more than one way, so every record names one file beneath it.</summary>
    public static bool IsLayerPath(string path) =>
        path.Length > 0 && !path.Contains('\0') && path.Split('/').All(part => part is not ("" or "." or ".."));

    public static InvalidDataException Corrupt(string problem, Exception? inner = null) =>
        new($"The tar-split record is damaged: {problem}; the original tarball cannot be replayed from it.", inner);
}
