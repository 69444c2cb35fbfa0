using System.Buffers;
using System.Globalization;
using System.Text;
using LayerTools.Native;

namespace LayerTools.Archive;

/// <summary>
/// Writes a tar stream as GNU tar's posix format does, deterministically: ustar headers, with a PAX 'x'
/// header only when a field cannot be said in ustar (long or non-ASCII names, large ids or sizes,
/// sub-second or out-of-range times, atime/ctime, xattrs, unknown PAX records). The same entries always
/// give the same bytes: no pid, no clock, records in a fixed order.
/// </summary>
/// <remarks>
/// The archive ends with exactly two zero blocks and no record padding (as Go-built OCI layers do; GNU
/// tar would pad to 10240 bytes). Directory names get GNU tar's trailing '/'. A sparse file is written as
/// <c>tar --format=posix --sparse-version=1.0 -S</c> writes it, with "GNUSparseFile.0" where GNU tar puts
/// its pid.
/// </remarks>
public sealed class TarWriter : IDisposable
{
    private const uint PermissionMask = 0xFFF;
    private const uint PaxHeaderMode = 0x1A4; // 0644, as GNU tar gives its extended headers
    private const string SparseFolder = "GNUSparseFile.0";

    private static readonly HashSet<string> ManagedKeys = new(StringComparer.Ordinal)
    {
        "path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime",
    };

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly byte[] _header = new byte[TarHeaderBlock.Size];
    private readonly byte[] _copyBuffer = new byte[64 * 1024];
    private bool _finished;
    private bool _disposed;

    /// <param name="output">Where the tar stream goes (see <see cref="Compression.OpenWrite"/>).</param>
    /// <param name="leaveOpen">Leave <paramref name="output"/> open when the writer is disposed.</param>
    public TarWriter(Stream output, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("The tar stream must be writable.", nameof(output));
        _output = output;
        _leaveOpen = leaveOpen;
    }

    /// <summary>How many bytes of tar stream have been written.</summary>
    public long Position { get; private set; }

    /// <summary>
    /// Writes one entry. A regular file's <paramref name="content"/> must hold exactly
    /// <see cref="TarEntry.Size"/> bytes (it may be null when the size is 0); other entries take no content.
    /// If the content runs short or long, the archive is left incomplete and must be discarded.
    /// </summary>
    /// <remarks>
    /// A regular file with a <see cref="TarEntry.SparseMap"/> is sparse: the map lists its data segments
    /// (ascending, not overlapping, within <see cref="TarEntry.Size"/>, each a whole number of 512-byte
    /// blocks but the last with data) and <paramref name="content"/> holds only their bytes, back to back,
    /// as <see cref="TarReader.OpenPayload"/> returns them. The map is stored ending with the zero-length
    /// segment at the file's size that GNU tar always writes, added unless the map already ends with it.
    /// </remarks>
    public void WriteEntry(TarEntry entry, Stream? content = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ThrowIfClosed();
        Validate(entry, content);

        string name = entry.Type == TarEntryType.Directory && !entry.Name.EndsWith('/') ? entry.Name + "/" : entry.Name;
        IReadOnlyList<(long Offset, long Length)>? map = entry.SparseMap;
        bool terminateMap = map is not null && (map.Count == 0 || map[^1] != (entry.Size, 0));
        long dataSize = entry.Type != TarEntryType.Regular ? 0 : map is null ? entry.Size : map.Sum(segment => segment.Length);
        long mapSize = map is null ? 0 : MapNumbers(map, terminateMap, entry.Size).Sum(n => Digits(n) + 1);
        long size = mapSize + TarHeaderBlock.PaddingAfter(mapSize) + dataSize;
        var pax = new ArrayBufferWriter<byte>();
        Span<byte> header = _header;
        header.Clear();

        // Records are appended in one fixed order, so equal entries give equal bytes.
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        if (map is not null)
        {
            // GNU tar's order: the sparse records first, the real name among them. The header gets a
            // made-up name, so a reader that ignores the records extracts the packed data beside the real
            // file instead of over it.
            PaxRecords.Append(pax, "GNU.sparse.major", "1"u8);
            PaxRecords.Append(pax, "GNU.sparse.minor", "0"u8);
            PaxRecords.Append(pax, "GNU.sparse.name", nameBytes);
            PaxRecords.Append(pax, "GNU.sparse.realsize", Encoding.ASCII.GetBytes(entry.Size.ToString(CultureInfo.InvariantCulture)));
            // GNU tar cuts this made-up name to the name field rather than extend it; only a non-ASCII one
            // also goes into a path record.
            ReadOnlySpan<byte> sparseName = Truncate(Encoding.UTF8.GetBytes(ExtensionName(name, SparseFolder)), TarHeaderBlock.Name.Length);
            if (!Ascii.IsValid(sparseName)) PaxRecords.Append(pax, "path", sparseName);
            TarHeaderBlock.WriteText(header, TarHeaderBlock.Name, sparseName);
        }
        else if (Ascii.IsValid(nameBytes) && nameBytes.Length <= TarHeaderBlock.Name.Length)
        {
            TarHeaderBlock.WriteText(header, TarHeaderBlock.Name, nameBytes);
        }
        else if (Ascii.IsValid(nameBytes) && SplitPoint(nameBytes) is int split and >= 0)
        {
            TarHeaderBlock.WriteText(header, TarHeaderBlock.Prefix, nameBytes.AsSpan(0, split));
            TarHeaderBlock.WriteText(header, TarHeaderBlock.Name, nameBytes.AsSpan(split + 1));
        }
        else
        {
            PaxRecords.Append(pax, "path", nameBytes);
            TarHeaderBlock.WriteText(header, TarHeaderBlock.Name, Truncate(nameBytes, TarHeaderBlock.Name.Length));
        }

        if (entry.LinkName is { } link)
            WriteTextOrPax(header, pax, TarHeaderBlock.LinkName, "linkpath", link, TarHeaderBlock.LinkName.Length);

        TarHeaderBlock.WriteOctal(header, TarHeaderBlock.Mode, entry.Mode);
        WriteNumberOrPax(header, pax, TarHeaderBlock.FileSize, "size", size);
        WriteNumberOrPax(header, pax, TarHeaderBlock.Uid, "uid", entry.Uid);
        WriteNumberOrPax(header, pax, TarHeaderBlock.Gid, "gid", entry.Gid);
        // A 32-byte name field keeps a terminating NUL, as POSIX asks.
        WriteTextOrPax(header, pax, TarHeaderBlock.UserName, "uname", entry.UserName ?? "", TarHeaderBlock.UserName.Length - 1);
        WriteTextOrPax(header, pax, TarHeaderBlock.GroupName, "gname", entry.GroupName ?? "", TarHeaderBlock.GroupName.Length - 1);

        long mtimeField = FitsOctal(entry.Mtime.Seconds, TarHeaderBlock.Mtime) ? entry.Mtime.Seconds : 0;
        TarHeaderBlock.WriteOctal(header, TarHeaderBlock.Mtime, mtimeField);
        if (entry.Mtime.Nanoseconds != 0 || mtimeField != entry.Mtime.Seconds)
            AppendTime(pax, "mtime", entry.Mtime);
        if (entry.Atime is { } atime) AppendTime(pax, "atime", atime);
        if (entry.Ctime is { } ctime) AppendTime(pax, "ctime", ctime);

        foreach (var (key, value) in entry.ExtraPax.OrderBy(r => r.Key, StringComparer.Ordinal))
            PaxRecords.Append(pax, key, value);
        foreach (var (xattr, value) in entry.Xattrs.OrderBy(x => x.Key, StringComparer.Ordinal))
            PaxRecords.Append(pax, PaxRecords.XattrPrefix + xattr, value);

        header[TarHeaderBlock.TypeFlag] = TypeFlag(entry.Type);
        TarHeaderBlock.WriteText(header, TarHeaderBlock.Magic, TarHeaderBlock.UstarMagic);
        TarHeaderBlock.WriteOctal(header, TarHeaderBlock.DevMajor, entry.DevMajor);
        TarHeaderBlock.WriteOctal(header, TarHeaderBlock.DevMinor, entry.DevMinor);
        TarHeaderBlock.SetChecksum(header);

        if (pax.WrittenCount > PaxRecords.MaxDataSize)
            throw new ArgumentException($"'{entry.Name}' needs {pax.WrittenCount} bytes of PAX records; more than {PaxRecords.MaxDataSize} could not be read back.", nameof(entry));
        if (pax.WrittenCount > 0) WritePaxHeader(name, mtimeField, pax.WrittenSpan);

        Emit(header);
        if (map is not null) WriteSparseMap(map, terminateMap, entry.Size);
        if (dataSize > 0) CopyExactly(content!, dataSize, entry.Name);
        if (content is not null && content.Read(_copyBuffer, 0, 1) > 0)
            throw new ArgumentException($"The content of '{entry.Name}' is longer than its {dataSize} bytes of data; the archive is incomplete.", nameof(content));
        WritePadding(dataSize);
    }

    /// <summary>Writes bytes verbatim: headers and padding copied from another archive through <see cref="TarReader"/>'s raw sink.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        ThrowIfClosed();
        Emit(bytes);
    }

    /// <summary>Copies exactly <paramref name="length"/> bytes verbatim, such as an entry's stored payload from <see cref="TarReader.OpenPayload"/>.</summary>
    public void WriteRaw(Stream source, long length)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ThrowIfClosed();
        CopyExactly(source, length, "raw data");
    }

    /// <summary>
    /// Ends the archive with two zero blocks and flushes. Pass false when the end marker was already copied
    /// with <see cref="WriteRaw(ReadOnlySpan{byte})"/>. <see cref="Dispose"/> finishes an unfinished archive.
    /// </summary>
    public void Finish(bool writeEndMarker = true)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished) return;
        if (writeEndMarker) Emit(new byte[2 * TarHeaderBlock.Size]);
        _output.Flush();
        _finished = true;
    }

    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            Finish();
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen) _output.Dispose();
        }
    }

    private void ThrowIfClosed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished) throw new InvalidOperationException("The archive is finished; nothing more can be written to it.");
    }

    private static void Validate(TarEntry entry, Stream? content)
    {
        void Require(bool condition, string problem)
        {
            if (!condition) throw new ArgumentException($"Cannot write tar entry '{entry.Name}': {problem}.", nameof(entry));
        }

        Require(!string.IsNullOrEmpty(entry.Name), "the name is empty");
        Require(!entry.Name.Contains('\0'), "the name contains a NUL");
        Require((entry.Mode & ~PermissionMask) == 0, $"mode {Convert.ToString(entry.Mode, 8)} has bits beyond 07777");

        bool isLink = entry.Type is TarEntryType.Symlink or TarEntryType.Hardlink;
        Require(isLink ? !string.IsNullOrEmpty(entry.LinkName) : entry.LinkName is null,
            isLink ? "a link needs a target" : "only symlinks and hard links have a target");
        Require(entry.LinkName?.Contains('\0') != true, "the link target contains a NUL");

        if (entry.Type == TarEntryType.Regular)
        {
            Require(entry.Size >= 0, $"size {entry.Size} is negative");
            if (entry.SparseMap is { } map)
            {
                if (SparseMapProblem(map, entry.Size, out long dataSize) is { } problem) Require(false, problem);
                Require(dataSize == 0 || content is not null, $"content is required for the {dataSize} bytes of the sparse map's segments");
                // The header's size is the map's, so content that disagrees would leave a corrupt entry;
                // when the stream knows its length that is caught before anything is written.
                if (content is { CanSeek: true })
                    Require(content.Length - content.Position == dataSize,
                        $"the content holds {content.Length - content.Position} bytes but the sparse map's segments hold {dataSize}");
            }
            else
            {
                Require(entry.Size == 0 || content is not null, $"content is required for {entry.Size} bytes");
            }
        }
        else
        {
            Require(entry.SparseMap is null, $"a {entry.Type} entry cannot be sparse");
            Require(entry.Size == 0, $"a {entry.Type} entry has no data, yet its size is {entry.Size}");
            Require(content is null, $"a {entry.Type} entry takes no content");
        }

        bool isDevice = entry.Type is TarEntryType.CharDevice or TarEntryType.BlockDevice;
        Require(isDevice || (entry.DevMajor == 0 && entry.DevMinor == 0), "only devices have device numbers");
        Require(FitsOctal(entry.DevMajor, TarHeaderBlock.DevMajor) && FitsOctal(entry.DevMinor, TarHeaderBlock.DevMinor),
            $"device {entry.DevMajor},{entry.DevMinor} does not fit ustar's 21-bit fields");

        foreach (var (what, time) in new[] { ("mtime", (Timestamp?)entry.Mtime), ("atime", entry.Atime), ("ctime", entry.Ctime) })
            Require(time is not { Nanoseconds: >= 1_000_000_000 }, $"{what} has {time?.Nanoseconds} nanoseconds");

        Require(entry.UserName?.Contains('\0') != true && entry.GroupName?.Contains('\0') != true, "an owner name contains a NUL");

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in entry.Xattrs)
        {
            Require(IsPaxKeyText(name), $"xattr name '{name}' is empty or contains '=' or NUL");
            Require(seen.Add(name), $"xattr '{name}' appears twice");
        }
        foreach (var (key, _) in entry.ExtraPax)
        {
            Require(IsPaxKeyText(key), $"PAX key '{key}' is empty or contains '=' or NUL");
            Require(!ManagedKeys.Contains(key) && !key.StartsWith(PaxRecords.XattrPrefix, StringComparison.Ordinal)
                    && !key.StartsWith("GNU.sparse.", StringComparison.Ordinal),
                $"PAX key '{key}' is written from the entry's own fields and cannot be passed in ExtraPax");
        }
    }

    /// <summary>
    /// Holds a sparse map to the rules <see cref="TarReader"/> enforces, so whatever is written reads back,
    /// and to GNU tar's reading of the data; null if it holds. <paramref name="dataSize"/> is the segments' total.
    /// </summary>
    private static string? SparseMapProblem(IReadOnlyList<(long Offset, long Length)> map, long size, out long dataSize)
    {
        dataSize = 0;
        // One more segment may be added to end the map.
        if (map.Count >= SparseMapBuilder.MaxSegments)
            return $"the sparse map has {map.Count} segments; a reader takes fewer than {SparseMapBuilder.MaxSegments}";
        long end = 0;
        int partial = -1;
        for (int i = 0; i < map.Count; i++)
        {
            var (offset, length) = map[i];
            if (offset < 0 || length < 0 || offset > size - length)
                return $"sparse segment {i} ({offset}, {length}) is not within the file's size {size}";
            if (offset < end)
                return $"sparse segment {i} at offset {offset} overlaps or precedes the previous one, which ends at {end}";
            // GNU tar reads each segment's data from a block boundary, so only the last data may end inside a block.
            if (partial >= 0 && length > 0)
                return $"sparse segment {partial} holds {map[partial].Length} bytes, not whole 512-byte blocks, yet data follows it; GNU tar would misplace that data";
            if (length % TarHeaderBlock.Size != 0) partial = i;
            end = offset + length;
            dataSize += length;
        }
        return null;
    }

    /// <summary>The numbers of a GNU sparse 1.0 map: the segment count, then offset and length of each segment.</summary>
    private static IEnumerable<long> MapNumbers(IReadOnlyList<(long Offset, long Length)> map, bool terminate, long size)
    {
        yield return map.Count + (terminate ? 1 : 0);
        foreach (var (offset, length) in map)
        {
            yield return offset;
            yield return length;
        }
        if (terminate)
        {
            yield return size;
            yield return 0;
        }
    }

    /// <summary>The map at the start of a sparse entry's data: each number in decimal and a newline, NUL-padded to a block.</summary>
    private void WriteSparseMap(IReadOnlyList<(long Offset, long Length)> map, bool terminate, long size)
    {
        // Streamed a block at a time: a map of many segments is never held as text.
        Span<byte> block = stackalloc byte[TarHeaderBlock.Size];
        int used = 0;
        Span<byte> number = stackalloc byte[20];
        foreach (long n in MapNumbers(map, terminate, size))
        {
            n.TryFormat(number, out int digits, provider: CultureInfo.InvariantCulture);
            number[digits++] = (byte)'\n';
            foreach (byte b in number[..digits])
            {
                block[used++] = b;
                if (used == block.Length)
                {
                    Emit(block);
                    used = 0;
                }
            }
        }
        if (used == 0) return;
        block[used..].Clear();
        Emit(block);
    }

    private static int Digits(long n)
    {
        int digits = 1;
        for (; n >= 10; n /= 10) digits++;
        return digits;
    }

    private static bool IsPaxKeyText(string key) => key.Length > 0 && !key.Contains('=') && !key.Contains('\0');

    /// <summary>
    /// Where to split a long ASCII path into ustar prefix and name, as GNU tar does: at the first '/' that
    /// leaves a name of at most 100 bytes. -1 if no split fits.
    /// </summary>
    private static int SplitPoint(byte[] path)
    {
        int last = Math.Min(path.Length - 2, TarHeaderBlock.Prefix.Length);
        for (int i = Math.Max(0, path.Length - TarHeaderBlock.Name.Length - 1); i <= last; i++)
        {
            if (path[i] == (byte)'/') return i;
        }
        return -1;
    }

    private static void WriteTextOrPax(Span<byte> header, ArrayBufferWriter<byte> pax, TarHeaderBlock.Field field, string key, string text, int limit)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        if (!Ascii.IsValid(bytes) || bytes.Length > limit) PaxRecords.Append(pax, key, bytes);
        // Readers that ignore PAX still see as much of the value as fits.
        TarHeaderBlock.WriteText(header, field, Truncate(bytes, limit));
    }

    private static void WriteNumberOrPax(Span<byte> header, ArrayBufferWriter<byte> pax, TarHeaderBlock.Field field, string key, long value)
    {
        bool fits = FitsOctal(value, field);
        if (!fits) PaxRecords.Append(pax, key, Encoding.ASCII.GetBytes(value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        TarHeaderBlock.WriteOctal(header, field, fits ? value : 0);
    }

    private static void AppendTime(ArrayBufferWriter<byte> pax, string key, Timestamp time) =>
        PaxRecords.Append(pax, key, Encoding.ASCII.GetBytes(PaxRecords.FormatTime(time)));

    private static bool FitsOctal(long value, TarHeaderBlock.Field field) => value >= 0 && value <= TarHeaderBlock.MaxOctal(field);

    /// <summary>At most <paramref name="limit"/> bytes of UTF-8, cut at a character boundary.</summary>
    private static ReadOnlySpan<byte> Truncate(byte[] utf8, int limit)
    {
        if (utf8.Length <= limit) return utf8;
        int cut = limit;
        while (cut > 0 && (utf8[cut] & 0xC0) == 0x80) cut--;
        return utf8.AsSpan(0, cut);
    }

    /// <summary>A name GNU tar makes up for an entry's extension data: "DIR/FOLDER/BASE", DIR "." for a top-level name.</summary>
    private static string ExtensionName(string name, string folder)
    {
        string trimmed = name.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        return (slash < 0 ? "." : trimmed[..slash]) + "/" + folder + "/" + trimmed[(slash + 1)..];
    }

    /// <summary>The extended header of <paramref name="name"/>, named as GNU tar names it ("DIR/PaxHeaders/BASE", no pid).</summary>
    private void WritePaxHeader(string name, long mtime, ReadOnlySpan<byte> records)
    {
        string headerName = ExtensionName(name, "PaxHeaders");

        Span<byte> block = stackalloc byte[TarHeaderBlock.Size];
        block.Clear();
        TarHeaderBlock.WriteText(block, TarHeaderBlock.Name, Truncate(Encoding.UTF8.GetBytes(headerName), TarHeaderBlock.Name.Length));
        TarHeaderBlock.WriteOctal(block, TarHeaderBlock.Mode, PaxHeaderMode);
        TarHeaderBlock.WriteOctal(block, TarHeaderBlock.Uid, 0);
        TarHeaderBlock.WriteOctal(block, TarHeaderBlock.Gid, 0);
        TarHeaderBlock.WriteOctal(block, TarHeaderBlock.FileSize, records.Length);
        TarHeaderBlock.WriteOctal(block, TarHeaderBlock.Mtime, mtime);
        block[TarHeaderBlock.TypeFlag] = (byte)'x';
        TarHeaderBlock.WriteText(block, TarHeaderBlock.Magic, TarHeaderBlock.UstarMagic);
        TarHeaderBlock.SetChecksum(block);

        Emit(block);
        Emit(records);
        WritePadding(records.Length);
    }

    private static byte TypeFlag(TarEntryType type) => type switch
    {
        TarEntryType.Regular => (byte)'0',
        TarEntryType.Hardlink => (byte)'1',
        TarEntryType.Symlink => (byte)'2',
        TarEntryType.CharDevice => (byte)'3',
        TarEntryType.BlockDevice => (byte)'4',
        TarEntryType.Directory => (byte)'5',
        TarEntryType.Fifo => (byte)'6',
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a tar entry type"),
    };

    private void CopyExactly(Stream source, long length, string what)
    {
        long remaining = length;
        while (remaining > 0)
        {
            int read = source.Read(_copyBuffer, 0, (int)Math.Min(_copyBuffer.Length, remaining));
            if (read == 0)
                throw new EndOfStreamException($"The content of '{what}' ended after {length - remaining} of {length} bytes; the archive is incomplete.");
            Emit(_copyBuffer.AsSpan(0, read));
            remaining -= read;
        }
    }

    private void WritePadding(long length)
    {
        Span<byte> zeros = stackalloc byte[TarHeaderBlock.Size];
        zeros.Clear();
        Emit(zeros[..TarHeaderBlock.PaddingAfter(length)]);
    }

    private void Emit(ReadOnlySpan<byte> bytes)
    {
        _output.Write(bytes);
        Position += bytes.Length;
    }
}
