using System.Buffers;
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
/// tar would pad to 10240 bytes). Directory names get GNU tar's trailing '/'. Sparse entries are not
/// written: pass the expanded content with <see cref="TarEntry.SparseMap"/> null.
/// </remarks>
public sealed class TarWriter : IDisposable
{
    private const uint PermissionMask = 0xFFF;
    private const uint PaxHeaderMode = 0x1A4; // 0644, as GNU tar gives its extended headers

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
    public void WriteEntry(TarEntry entry, Stream? content = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ThrowIfClosed();
        Validate(entry, content);

        string name = entry.Type == TarEntryType.Directory && !entry.Name.EndsWith('/') ? entry.Name + "/" : entry.Name;
        long size = entry.Type == TarEntryType.Regular ? entry.Size : 0;
        var pax = new ArrayBufferWriter<byte>();
        Span<byte> header = _header;
        header.Clear();

        // Records are appended in one fixed order, so equal entries give equal bytes.
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        if (Ascii.IsValid(nameBytes) && nameBytes.Length <= TarHeaderBlock.Name.Length)
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
        if (size > 0) CopyExactly(content!, size, entry.Name);
        if (content is not null && content.Read(_copyBuffer, 0, 1) > 0)
            throw new ArgumentException($"The content of '{entry.Name}' is longer than its size {size}; the archive is incomplete.", nameof(content));
        WritePadding(size);
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
        if (entry.SparseMap is not null)
            throw new NotSupportedException($"Cannot write tar entry '{entry.Name}': sparse entries are not written; pass the expanded content with SparseMap = null.");

        bool isLink = entry.Type is TarEntryType.Symlink or TarEntryType.Hardlink;
        Require(isLink ? !string.IsNullOrEmpty(entry.LinkName) : entry.LinkName is null,
            isLink ? "a link needs a target" : "only symlinks and hard links have a target");
        Require(entry.LinkName?.Contains('\0') != true, "the link target contains a NUL");

        if (entry.Type == TarEntryType.Regular)
        {
            Require(entry.Size >= 0, $"size {entry.Size} is negative");
            Require(entry.Size == 0 || content is not null, $"content is required for {entry.Size} bytes");
        }
        else
        {
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

    /// <summary>The extended header of <paramref name="name"/>, named as GNU tar names it ("DIR/PaxHeaders/BASE", no pid).</summary>
    private void WritePaxHeader(string name, long mtime, ReadOnlySpan<byte> records)
    {
        string trimmed = name.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        string headerName = (slash < 0 ? "." : trimmed[..slash]) + "/PaxHeaders/" + trimmed[(slash + 1)..];

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
