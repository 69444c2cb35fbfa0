using System.Text;
using LayerTools.Native;

namespace LayerTools.Archive;

/// <summary>
/// Reads a tar stream forward only, in memory bounded by the extension-data and sparse-map caps whatever
/// the archive's size: ustar, pax (per-entry and global), old GNU (long names, base-256 numbers, sparse
/// 'S' entries) and v7 headers, and GNU sparse files in formats 0.0, 0.1 and 1.0.
/// </summary>
/// <remarks>
/// <para>Every malformed input ends in <see cref="ArchiveCorruptException"/>; nothing is allocated from an
/// untrusted size without a cap. Paths are returned as stored: refusing "..", absolute names or escapes
/// through symlinks is the applier's job; a NUL inside a name is refused here.</para>
/// <para>The raw sink sees, in stream order, every byte consumed that is not payload: headers, extension
/// headers and their data, sparse maps (old-GNU extension blocks, the 1.0 map text), padding, the end
/// marker and anything after it up to EOF. Payload is an entry's <see cref="TarEntry.StoredSize"/> bytes,
/// read through <see cref="OpenPayload"/> or <see cref="OpenContent"/> or skipped by <see cref="Next"/>.
/// Raw bytes and payload bytes, interleaved as consumed, are exactly the input.</para>
/// <para>Following GNU tar, symlinks, devices and FIFOs whose header claims a size have that many
/// payload bytes (skipped), while directories and hard links never have any.</para>
/// </remarks>
public sealed class TarReader : IDisposable
{
    /// <summary>Sizes above 2^62 are refused as corrupt: no file is that large, and sums stay far from overflow.</summary>
    public const long MaxEntrySize = 1L << 62;

    private static readonly HashSet<string> InterpretedKeys = new(StringComparer.Ordinal)
    {
        "path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime",
        "GNU.sparse.size", "GNU.sparse.numblocks", "GNU.sparse.map", "GNU.sparse.name",
        "GNU.sparse.realsize", "GNU.sparse.major", "GNU.sparse.minor",
    };

    private readonly Stream _input;
    private readonly TarRawSink? _rawSink;
    private readonly bool _leaveOpen;
    private readonly byte[] _block = new byte[TarHeaderBlock.Size];
    private readonly byte[] _skipBuffer = new byte[64 * 1024];
    private readonly PaxRecordSet _global = new();

    private long _headerOffset;
    private string? _entryName;
    private TarEntry? _current;
    private int _generation;
    private long _payloadRemaining;
    private bool _contentClaimed;
    private bool _ended;
    private bool _disposed;

    /// <param name="input">The uncompressed tar stream, read forward only (see <see cref="Compression.OpenRead"/>).</param>
    /// <param name="rawSink">Receives every non-payload byte in stream order, for an exact re-export; the span is only valid during the call.</param>
    /// <param name="leaveOpen">Leave <paramref name="input"/> open when the reader is disposed.</param>
    public TarReader(Stream input, TarRawSink? rawSink = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.CanRead) throw new ArgumentException("The tar stream must be readable.", nameof(input));
        _input = input;
        _rawSink = rawSink;
        _leaveOpen = leaveOpen;
    }

    /// <summary>How many bytes of the tar stream have been consumed.</summary>
    public long Position { get; private set; }

    /// <summary>
    /// Moves to the next entry, skipping whatever of the current entry's payload was not read. Returns null
    /// at the end of the archive: its zero blocks (the rest of the stream, up to EOF, is then consumed as
    /// raw bytes). A stream that stops where a header would start, with no zero block, is corrupt.
    /// </summary>
    public TarEntry? Next()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_ended) return null;
        FinishEntry();
        _current = ReadEntry();
        return _current;
    }

    /// <summary>
    /// The current entry's stored payload: <see cref="TarEntry.StoredSize"/> bytes, for a sparse file its
    /// data segments back to back in map order (write segment i's Length bytes at its Offset to rebuild the
    /// file with its holes). Valid until the next call to <see cref="Next"/>; an entry's data can be opened once.
    /// </summary>
    public Stream OpenPayload() => OpenPayloadStream();

    /// <summary><see cref="OpenPayload"/>, with <see cref="TarPayloadStream.ReadView"/> for a reader that need not copy.</summary>
    internal TarPayloadStream OpenPayloadStream()
    {
        TarEntry entry = ClaimContent();
        return new TarPayloadStream(this, _generation, entry.StoredSize);
    }

    /// <summary>
    /// The current entry's logical content: <see cref="TarEntry.Size"/> bytes, a sparse file expanded with
    /// zeros in its holes. Valid until the next call to <see cref="Next"/>; an entry's data can be opened once.
    /// </summary>
    public Stream OpenContent()
    {
        TarEntry entry = ClaimContent();
        var payload = new TarPayloadStream(this, _generation, entry.StoredSize);
        return entry.SparseMap is null ? payload : new SparseContentStream(payload, entry.SparseMap, entry.Size);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_leaveOpen) _input.Dispose();
    }

    /// <summary>
    /// Serves a payload stream: reads within the current entry's payload, failing on a stream that ends early.
    /// With <paramref name="view"/>, the bytes may come back as a view of the input's own buffer instead of
    /// in <paramref name="buffer"/> (see <see cref="ReadInput"/>).
    /// </summary>
    internal ReadOnlySpan<byte> ReadPayload(int generation, Span<byte> buffer, bool view)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (generation != _generation)
            throw new InvalidOperationException("This entry's data can no longer be read: the reader has moved to the next entry.");
        if (_payloadRemaining == 0 || buffer.IsEmpty) return default;
        if (buffer.Length > _payloadRemaining) buffer = buffer[..(int)_payloadRemaining];
        ReadOnlySpan<byte> read = ReadInput(buffer, view);
        if (read.IsEmpty) throw Corrupt($"the archive ends {_payloadRemaining} bytes before the end of the entry's data");
        _payloadRemaining -= read.Length;
        return read;
    }

    private TarEntry ClaimContent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_current is null) throw new InvalidOperationException("There is no current entry: call Next() first.");
        if (_contentClaimed) throw new InvalidOperationException($"The data of '{_current.Name}' was already opened; an entry's data can be read once.");
        _contentClaimed = true;
        return _current;
    }

    private void FinishEntry()
    {
        if (_current is null) return;
        while (_payloadRemaining > 0)
        {
            int read = ReadInput(_skipBuffer.AsSpan(0, (int)Math.Min(_skipBuffer.Length, _payloadRemaining)));
            if (read == 0) throw Corrupt($"the archive ends {_payloadRemaining} bytes before the end of the entry's data");
            _payloadRemaining -= read;
        }
        ReadRaw(TarHeaderBlock.PaddingAfter(_current.StoredSize), "the padding after the entry's data");
        _current = null;
        _entryName = null;
        _contentClaimed = false;
        _generation++;
    }

    private TarEntry? ReadEntry()
    {
        var own = new PaxRecordSet();
        var sparsePairs = new List<(long Offset, long Length)>();
        long? sparseOffset = null;
        long extensionBytes = 0;
        bool awaitingEntry = false;
        while (true)
        {
            _headerOffset = Position;
            if (!TryReadBlock())
            {
                if (awaitingEntry) throw Corrupt("the archive ends after an extended header, before the entry it describes");
                // GNU tar would accept this, but a stream cut at a header boundary (a truncated download,
                // a gzip stream cut short, which .NET's decoder does not notice) looks just like it.
                throw Corrupt("the archive ends without its end-of-archive marker: it was cut short, or it is empty");
            }
            if (TarHeaderBlock.IsZero(_block))
            {
                if (awaitingEntry) throw Corrupt("an extended header is followed by the end of the archive instead of its entry");
                ReadEndOfArchive();
                return null;
            }
            if (!TarHeaderBlock.HasValidChecksum(_block))
                throw Corrupt("the header checksum does not match: the header is damaged, or this is not a tar stream");

            byte flag = _block[TarHeaderBlock.TypeFlag];
            switch (flag)
            {
                case (byte)'x':
                    foreach (var (key, value) in ReadPaxData(ref extensionBytes))
                    {
                        if (key == "GNU.sparse.offset")
                        {
                            if (sparseOffset is not null) throw Corrupt("GNU.sparse.offset appears twice without GNU.sparse.numbytes between");
                            sparseOffset = ParseDecimal(value, key);
                        }
                        else if (key == "GNU.sparse.numbytes")
                        {
                            if (sparseOffset is not { } offset) throw Corrupt("GNU.sparse.numbytes appears without a GNU.sparse.offset before it");
                            sparsePairs.Add((offset, ParseDecimal(value, key)));
                            sparseOffset = null;
                        }
                        else
                        {
                            own.Set(key, value);
                        }
                    }
                    awaitingEntry = true;
                    break;
                case (byte)'g':
                    long globalBytes = 0;
                    foreach (var (key, value) in ReadPaxData(ref globalBytes))
                        _global.Set(key, value);
                    if (_global.ByteCount > PaxRecords.MaxDataSize)
                        throw Corrupt($"global PAX headers hold more than {PaxRecords.MaxDataSize} bytes");
                    break;
                case (byte)'L':
                    own.Set("path", ReadGnuLongText(ref extensionBytes, "long name"));
                    awaitingEntry = true;
                    break;
                case (byte)'K':
                    own.Set("linkpath", ReadGnuLongText(ref extensionBytes, "long link name"));
                    awaitingEntry = true;
                    break;
                default:
                    if (sparseOffset is not null) throw Corrupt("GNU.sparse.offset has no matching GNU.sparse.numbytes");
                    return ReadMember(flag, own, sparsePairs);
            }
        }
    }

    private TarEntry ReadMember(byte flag, PaxRecordSet own, List<(long Offset, long Length)> sparsePairs)
    {
        ReadOnlySpan<byte> magic = TarHeaderBlock.Magic.Of(_block);
        bool posix = magic.SequenceEqual(TarHeaderBlock.UstarMagic);
        bool hasOwnerNames = posix || magic.SequenceEqual(TarHeaderBlock.GnuMagic);

        byte[]? Pax(string key) =>
            own.TryGet(key, out byte[] value) || _global.TryGet(key, out value)
                ? (value.Length == 0 ? null : value) // an empty value cancels the key: the header field applies
                : null;

        _entryName = Pax("GNU.sparse.name") is { } sparseName ? DecodeName(sparseName, "GNU.sparse.name")
            : Pax("path") is { } path ? DecodeName(path, "path")
            : DecodeName(HeaderPath(posix), "name");

        TarEntryType type = flag switch
        {
            (byte)'0' or (byte)'7' or (byte)'S' => TarEntryType.Regular,
            // Pre-POSIX archives mark directories only by the trailing slash.
            0 => _entryName.EndsWith('/') ? TarEntryType.Directory : TarEntryType.Regular,
            (byte)'1' => TarEntryType.Hardlink,
            (byte)'2' => TarEntryType.Symlink,
            (byte)'3' => TarEntryType.CharDevice,
            (byte)'4' => TarEntryType.BlockDevice,
            (byte)'5' => TarEntryType.Directory,
            (byte)'6' => TarEntryType.Fifo,
            _ => throw Corrupt($"entry type {Describe(flag)} is not supported (only files, directories, links, devices and FIFOs are)"),
        };

        long mode = HeaderNumber(TarHeaderBlock.Mode, "mode");
        uint uid = Pax("uid") is { } paxUid ? ToUInt(ParseDecimal(paxUid, "uid"), "uid") : ToUInt(HeaderNumber(TarHeaderBlock.Uid, "uid"), "uid");
        uint gid = Pax("gid") is { } paxGid ? ToUInt(ParseDecimal(paxGid, "gid"), "gid") : ToUInt(HeaderNumber(TarHeaderBlock.Gid, "gid"), "gid");
        long size = Pax("size") is { } paxSize ? ParseDecimal(paxSize, "size") : HeaderNumber(TarHeaderBlock.FileSize, "size");
        if (size > MaxEntrySize) throw Corrupt($"size {size} is beyond any real file ({MaxEntrySize} bytes at most)");
        Timestamp mtime = Pax("mtime") is { } paxMtime
            ? ParseTime(paxMtime, "mtime")
            : new Timestamp(HeaderNumber(TarHeaderBlock.Mtime, "mtime", allowNegative: true), 0);

        string? link = null;
        if (type is TarEntryType.Symlink or TarEntryType.Hardlink)
        {
            link = Pax("linkpath") is { } linkPath ? DecodeName(linkPath, "linkpath") : DecodeText(TarHeaderBlock.Text(_block, TarHeaderBlock.LinkName), "link name");
            if (link.Length == 0) throw Corrupt($"the {(type == TarEntryType.Symlink ? "symlink" : "hard link")} has no target");
        }

        string? userName = Pax("uname") is { } paxUser ? DecodeText(paxUser, "uname")
            : hasOwnerNames ? NullIfEmpty(DecodeText(TarHeaderBlock.Text(_block, TarHeaderBlock.UserName), "user name")) : null;
        string? groupName = Pax("gname") is { } paxGroup ? DecodeText(paxGroup, "gname")
            : hasOwnerNames ? NullIfEmpty(DecodeText(TarHeaderBlock.Text(_block, TarHeaderBlock.GroupName), "group name")) : null;

        uint devMajor = 0, devMinor = 0;
        if (type is TarEntryType.CharDevice or TarEntryType.BlockDevice && hasOwnerNames)
        {
            devMajor = ToUInt(HeaderNumber(TarHeaderBlock.DevMajor, "devmajor"), "devmajor");
            devMinor = ToUInt(HeaderNumber(TarHeaderBlock.DevMinor, "devminor"), "devminor");
        }

        var xattrs = new List<KeyValuePair<string, byte[]>>();
        var extra = new List<KeyValuePair<string, byte[]>>();
        foreach (var record in _global.Records.Where(r => !own.Contains(r.Key)).Concat(own.Records))
        {
            if (record.Key.StartsWith(PaxRecords.XattrPrefix, StringComparison.Ordinal))
            {
                string name = record.Key[PaxRecords.XattrPrefix.Length..];
                if (name.Length == 0) throw Corrupt("a SCHILY.xattr record has no attribute name");
                xattrs.Add(new(name, record.Value));
            }
            else if (!InterpretedKeys.Contains(record.Key))
            {
                extra.Add(record);
            }
        }

        // Everything above came from the header block; the old-GNU sparse map may read more blocks into it.
        long logicalSize = size, storedSize = size;
        IReadOnlyList<(long Offset, long Length)>? sparseMap = null;
        SparseMapBuilder? sparse = null;
        if (flag == (byte)'S')
        {
            logicalSize = HeaderNumber(TarHeaderBlock.GnuRealSize, "sparse real size");
            sparse = ReadGnuSparseMap();
        }
        else if (Pax("GNU.sparse.major") is { } major)
        {
            string version = $"{Encoding.ASCII.GetString(major)}.{Encoding.ASCII.GetString(Pax("GNU.sparse.minor") ?? "?"u8.ToArray())}";
            if (version != "1.0") throw Corrupt($"GNU sparse format {version} is not supported (0.0, 0.1 and 1.0 are)");
            logicalSize = Pax("GNU.sparse.realsize") is { } realSize ? ParseDecimal(realSize, "GNU.sparse.realsize")
                : throw Corrupt("a GNU sparse 1.0 entry has no GNU.sparse.realsize");
            sparse = new SparseMapBuilder();
            storedSize = size - ReadSparseMapFromData(sparse, size);
        }
        else if (Pax("GNU.sparse.size") is { } sparseSize)
        {
            logicalSize = ParseDecimal(sparseSize, "GNU.sparse.size");
            sparse = new SparseMapBuilder();
            if (Pax("GNU.sparse.map") is { } mapText) AddSparseMapText(sparse, mapText);
            else foreach (var (offset, length) in sparsePairs) AddSegment(sparse, offset, length);
            if (Pax("GNU.sparse.numblocks") is { } numBlocks && ParseDecimal(numBlocks, "GNU.sparse.numblocks") != sparse.Count)
                throw Corrupt($"GNU.sparse.numblocks says {Encoding.ASCII.GetString(numBlocks)} but the map has {sparse.Count} segments");
        }
        else if (sparsePairs.Count > 0 || Pax("GNU.sparse.map") is not null)
        {
            throw Corrupt("a GNU sparse map comes without GNU.sparse.size");
        }

        if (sparse is not null)
        {
            if (type != TarEntryType.Regular) throw Corrupt("a sparse map is attached to an entry that is not a regular file");
            if (logicalSize > MaxEntrySize) throw Corrupt($"sparse size {logicalSize} is beyond any real file");
            if (sparse.Validate(logicalSize, storedSize) is { } problem) throw Corrupt(problem);
            sparseMap = sparse.ToList();
        }

        if (type is TarEntryType.Directory or TarEntryType.Hardlink) logicalSize = storedSize = 0;
        _payloadRemaining = storedSize;
        return new TarEntry
        {
            Name = _entryName,
            Type = type,
            Mode = (uint)mode & 0xFFF,
            Uid = uid,
            Gid = gid,
            UserName = userName,
            GroupName = groupName,
            Size = logicalSize,
            Mtime = mtime,
            Atime = Pax("atime") is { } atime ? ParseTime(atime, "atime") : null,
            Ctime = Pax("ctime") is { } ctime ? ParseTime(ctime, "ctime") : null,
            LinkName = link,
            DevMajor = devMajor,
            DevMinor = devMinor,
            Xattrs = xattrs,
            ExtraPax = extra,
            SparseMap = sparseMap,
            StoredSize = storedSize,
        };
    }

    /// <summary>The path in the header: ustar joins prefix and name; old GNU and v7 headers have no prefix.</summary>
    private byte[] HeaderPath(bool posix)
    {
        ReadOnlySpan<byte> name = TarHeaderBlock.Text(_block, TarHeaderBlock.Name);
        ReadOnlySpan<byte> prefix = posix ? TarHeaderBlock.Text(_block, TarHeaderBlock.Prefix) : default;
        return prefix.IsEmpty ? name.ToArray() : [.. prefix, (byte)'/', .. name];
    }

    /// <summary>Reads the old-GNU sparse slots of the header, then of each extension block that follows it.</summary>
    private SparseMapBuilder ReadGnuSparseMap()
    {
        var sparse = new SparseMapBuilder();
        AddGnuSparseSlots(sparse, _block.AsSpan(TarHeaderBlock.GnuSparseSlots), TarHeaderBlock.GnuSparseSlotCount);
        bool extended = _block[TarHeaderBlock.GnuIsExtended] != 0;
        int blocks = 0;
        while (extended)
        {
            // Each block holds up to 21 segments; more blocks than the segment cap allows are not a real map.
            if (++blocks > SparseMapBuilder.MaxSegments / TarHeaderBlock.GnuExtensionSlotCount + 1)
                throw Corrupt("the old-GNU sparse map continues over too many extension blocks");
            ReadBlock("the rest of the old-GNU sparse map");
            AddGnuSparseSlots(sparse, _block, TarHeaderBlock.GnuExtensionSlotCount);
            extended = _block[TarHeaderBlock.GnuExtensionIsExtended] != 0;
        }
        return sparse;
    }

    private void AddGnuSparseSlots(SparseMapBuilder sparse, ReadOnlySpan<byte> slots, int count)
    {
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> slot = slots.Slice(i * TarHeaderBlock.GnuSparseSlotSize, TarHeaderBlock.GnuSparseSlotSize);
            if (slot[0] == 0 && slot[12] == 0) return; // an unused slot ends the list
            if (!TarHeaderBlock.TryParseNumber(slot[..12], out long offset) || !TarHeaderBlock.TryParseNumber(slot[12..], out long length))
                throw Corrupt($"sparse slot {sparse.Count} does not parse as numbers");
            AddSegment(sparse, offset, length);
        }
    }

    /// <summary>GNU.sparse.map (format 0.1): "offset,length,offset,length,...".</summary>
    private void AddSparseMapText(SparseMapBuilder sparse, byte[] text)
    {
        long? offset = null;
        ReadOnlySpan<byte> rest = text;
        while (true)
        {
            int comma = rest.IndexOf((byte)',');
            long number = ParseDecimal(comma < 0 ? rest : rest[..comma], "GNU.sparse.map");
            if (offset is { } start)
            {
                AddSegment(sparse, start, number);
                offset = null;
            }
            else
            {
                offset = number;
            }
            if (comma < 0) break;
            rest = rest[(comma + 1)..];
        }
        if (offset is not null) throw Corrupt("GNU.sparse.map has an odd count of numbers");
    }

    /// <summary>
    /// Format 1.0 keeps the map at the start of the data: decimal lines (segment count, then offset and
    /// length per segment), padded with NULs to a block boundary. Returns the bytes it occupied.
    /// </summary>
    private long ReadSparseMapFromData(SparseMapBuilder sparse, long dataSize)
    {
        long consumed = 0, count = -1, value = 0;
        long? offset = null;
        int digits = 0;
        while (true)
        {
            if (dataSize - consumed < TarHeaderBlock.Size) throw Corrupt("the GNU sparse 1.0 map runs past the entry's data");
            ReadBlock("the end of the GNU sparse 1.0 map");
            consumed += TarHeaderBlock.Size;
            foreach (byte b in _block)
            {
                if (b is >= (byte)'0' and <= (byte)'9')
                {
                    if (value > (long.MaxValue - (b - '0')) / 10) throw Corrupt("a number in the GNU sparse 1.0 map overflows");
                    value = value * 10 + (b - '0');
                    digits++;
                    continue;
                }
                if (b != (byte)'\n' || digits == 0) throw Corrupt($"the GNU sparse 1.0 map holds {Describe(b)} where a number or newline belongs");

                if (count < 0)
                {
                    count = value;
                    if (count > SparseMapBuilder.MaxSegments) throw Corrupt($"the GNU sparse 1.0 map declares {count} segments, more than {SparseMapBuilder.MaxSegments}");
                }
                else if (offset is { } start)
                {
                    AddSegment(sparse, start, value);
                    offset = null;
                }
                else
                {
                    offset = value;
                }
                value = 0;
                digits = 0;
                // The rest of this block is padding.
                if (sparse.Count == count) return consumed;
            }
        }
    }

    private void AddSegment(SparseMapBuilder sparse, long offset, long length)
    {
        if (sparse.Add(offset, length) is { } problem) throw Corrupt(problem);
    }

    private List<KeyValuePair<string, byte[]>> ReadPaxData(ref long extensionBytes)
    {
        byte[] data = ReadExtensionData(ref extensionBytes, "PAX header");
        var records = new List<KeyValuePair<string, byte[]>>();
        if (PaxRecords.TryParse(data, records) is { } problem) throw Corrupt(problem);
        return records;
    }

    /// <summary>A GNU 'L' or 'K' block: the text, NUL-terminated; anything but NULs after the first NUL is refused.</summary>
    private byte[] ReadGnuLongText(ref long extensionBytes, string what)
    {
        byte[] data = ReadExtensionData(ref extensionBytes, $"GNU {what}");
        int end = data.AsSpan().IndexOf((byte)0);
        if (end < 0) return data;
        if (data.AsSpan(end).ContainsAnyExcept((byte)0)) throw Corrupt($"the GNU {what} has a NUL inside it");
        return data[..end];
    }

    /// <summary>Reads an extension header's data and padding (raw), refusing more than the cap for one entry.</summary>
    private byte[] ReadExtensionData(ref long extensionBytes, string what)
    {
        long size = HeaderNumber(TarHeaderBlock.FileSize, $"{what} size");
        if (size > PaxRecords.MaxDataSize - extensionBytes)
            throw Corrupt($"the {what} holds {size} bytes; more than {PaxRecords.MaxDataSize} bytes of extension data for one entry are refused");
        extensionBytes += size;
        byte[] data = new byte[size];
        if (ReadUpTo(data) < data.Length) throw Corrupt($"the archive ends inside the {what}");
        _rawSink?.Invoke(data);
        ReadRaw(TarHeaderBlock.PaddingAfter(size), $"the padding after the {what}");
        return data;
    }

    /// <summary>
    /// After one zero block: a second one (or a clean EOF, which GNU tar accepts) ends the archive, and the
    /// rest of the stream is raw trailing bytes. A header after a lone zero block means the archive was
    /// damaged; GNU tar would stop there silently, losing the entries after it.
    /// </summary>
    private void ReadEndOfArchive()
    {
        _ended = true;
        _headerOffset = Position;
        if (TryReadBlock() && !TarHeaderBlock.IsZero(_block))
            throw Corrupt("a lone zero block is followed by more data: entries after it would be lost");
        int read;
        while ((read = ReadUpTo(_skipBuffer)) > 0) _rawSink?.Invoke(_skipBuffer.AsSpan(0, read));
    }

    /// <summary>Reads one block into the header buffer (raw); false at a clean EOF on the block boundary.</summary>
    private bool TryReadBlock()
    {
        int read = ReadUpTo(_block);
        if (read == 0) return false;
        if (read < _block.Length) throw Corrupt($"the archive ends inside a header block ({read} of 512 bytes)");
        _rawSink?.Invoke(_block);
        return true;
    }

    private void ReadBlock(string expected)
    {
        if (!TryReadBlock()) throw Corrupt($"the archive ends before {expected}");
    }

    private void ReadRaw(int count, string what)
    {
        Span<byte> bytes = _skipBuffer.AsSpan(0, count);
        if (ReadUpTo(bytes) < count) throw Corrupt($"the archive ends inside {what}");
        _rawSink?.Invoke(bytes);
    }

    private int ReadUpTo(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = ReadInput(buffer[total..]);
            if (read == 0) break;
            total += read;
        }
        return total;
    }

    private int ReadInput(Span<byte> buffer) => ReadInput(buffer, view: false).Length;

    /// <summary>
    /// Reads up to <paramref name="buffer"/>'s length of input. With <paramref name="view"/> and an input read
    /// ahead, the bytes come back as a view of its chunk, valid until the next read, which saves copying
    /// file data on its way to disk; otherwise they are read into <paramref name="buffer"/>.
    /// </summary>
    private ReadOnlySpan<byte> ReadInput(Span<byte> buffer, bool view)
    {
        ReadOnlySpan<byte> read;
        try
        {
            read = view && _input is ReadAheadStream ahead ? ahead.ReadView(buffer.Length) : buffer[.._input.Read(buffer)];
        }
        catch (ArchiveCorruptException e)
        {
            throw Corrupt(e.Problem, e);
        }
        catch (InvalidDataException e)
        {
            throw Corrupt($"the stream cannot be decoded: {e.Message}", e);
        }
        Position += read.Length;
        return read;
    }

    private long HeaderNumber(TarHeaderBlock.Field field, string what, bool allowNegative = false)
    {
        if (!TarHeaderBlock.TryParseNumber(field.Of(_block), out long value))
            throw Corrupt($"the {what} field does not parse as a number");
        if (value < 0 && !allowNegative) throw Corrupt($"the {what} field is negative ({value})");
        return value;
    }

    private long ParseDecimal(ReadOnlySpan<byte> text, string key) =>
        PaxRecords.TryParseDecimal(text, out long value) ? value : throw Corrupt($"PAX {key} is not a non-negative decimal number");

    private Timestamp ParseTime(byte[] text, string key) =>
        PaxRecords.TryParseTime(text, out Timestamp time) ? time : throw Corrupt($"PAX {key} is not a decimal time");

    private uint ToUInt(long value, string what) =>
        value is >= 0 and <= uint.MaxValue ? (uint)value : throw Corrupt($"{what} {value} does not fit in 32 bits");

    private string DecodeName(ReadOnlySpan<byte> bytes, string what)
    {
        string name = DecodeText(bytes, what);
        if (name.Length == 0) throw Corrupt($"the entry's {what} is empty");
        return name;
    }

    private string DecodeText(ReadOnlySpan<byte> bytes, string what)
    {
        if (bytes.Contains((byte)0)) throw Corrupt($"the {what} contains a NUL byte");
        try
        {
            return PaxRecords.StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            // A string cannot hold arbitrary bytes, and replacing them would silently rename the file.
            throw Corrupt($"the {what} is not valid UTF-8");
        }
    }

    private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

    private static string Describe(byte b) => b is >= 0x21 and < 0x7F ? $"'{(char)b}'" : $"byte 0x{b:x2}";

    private ArchiveCorruptException Corrupt(string problem, Exception? inner = null) => new(problem, _entryName, _headerOffset, inner);
}
