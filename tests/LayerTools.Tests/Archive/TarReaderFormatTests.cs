using LayerTools.Archive;
using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>Archives made by GNU tar in each format, read back and checked field by field against the files they came from.</summary>
public sealed class TarReaderFormatTests : IClassFixture<ArchiveSourceTree>
{
    private readonly ArchiveSourceTree _tree;

    public TarReaderFormatTests(ArchiveSourceTree tree) => _tree = tree;

    public static TheoryData<string> Formats => new() { "v7", "ustar", "gnu", "posix" };

    public static TheoryData<string> SparseVersions => new() { "gnu", "0.0", "0.1", "1.0" };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_entry_matches_the_file_it_was_made_from(string format)
    {
        var entries = TarContents.ReadAll(File.ReadAllBytes(_tree.Archive(format)));

        var expected = _tree.PathsUnder(ArchiveSourceTree.GroupsFor(format)).Order(StringComparer.Ordinal);
        Assert.Equal(expected, entries.Select(e => e.Entry.Name.TrimEnd('/')).Order(StringComparer.Ordinal));
        foreach (var (entry, content) in entries)
            AssertMatchesDisk(entry, content, format);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Raw_bytes_and_payload_reassemble_the_archive_exactly(string format)
    {
        byte[] archive = File.ReadAllBytes(_tree.Archive(format));
        Assert.Equal(archive, TarContents.Reassemble(archive));
    }

    [Fact]
    public void Posix_archive_keeps_nanoseconds_xattrs_and_large_ids()
    {
        var entries = TarContents.ReadAll(File.ReadAllBytes(_tree.Archive("posix"))).ToDictionary(e => e.Entry.Name, e => e.Entry);

        TarEntry file = entries["tree/core/file.txt"];
        Assert.NotEqual(0u, file.Mtime.Nanoseconds);
        Assert.Equal(Describe(ArchiveSourceTree.FileXattrs), Describe(file.Xattrs));
        Assert.Equal(FixtureTree.NetBindServiceCapability(), Assert.Single(entries["tree/core/setuid"].Xattrs).Value);
        Assert.Equal((3_000_000u, 3_000_001u), (entries["tree/owners/big"].Uid, entries["tree/owners/big"].Gid));
        Assert.Equal("/" + new string('t', 150), entries["tree/long/far-link"].LinkName);
        Assert.Empty(file.ExtraPax);
    }

    [Fact]
    public void Gnu_archive_uses_long_name_records_and_base256_ids()
    {
        byte[] archive = File.ReadAllBytes(_tree.Archive("gnu"));
        // The fixture must really exercise the encodings: 'L' and 'K' blocks, and base-256 uid fields.
        Assert.Contains(Blocks(archive), b => b.AsSpan(0, 13).SequenceEqual("././@LongLink"u8));
        Assert.Contains(Blocks(archive), b => b[108] == 0x80);

        var entries = TarContents.ReadAll(archive).ToDictionary(e => e.Entry.Name, e => e.Entry);
        Assert.Equal(3_000_000u, entries["tree/owners/big"].Uid);
        Assert.Equal("/" + new string('t', 150), entries["tree/long/far-link"].LinkName);
        Assert.Contains(entries.Keys, name => name.Length > 255);
    }

    [Fact]
    public void Ustar_archive_joins_prefix_and_name()
    {
        byte[] archive = File.ReadAllBytes(_tree.Archive("ustar"));
        Assert.Contains(Blocks(archive), b => b[345] != 0);
        var names = TarContents.ReadAll(archive).Select(e => e.Entry.Name).ToList();
        Assert.Contains(names, name => name.Length > 150 && name.EndsWith(new string('q', 90) + ".txt", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(SparseVersions))]
    public void Sparse_file_expands_to_the_original_and_its_map_covers_the_data(string version)
    {
        string original = Path.Join(_tree.Root, "tree/sparse/holes.img");
        byte[] archive = File.ReadAllBytes(_tree.SparseArchive(version));

        using var reader = new TarReader(new MemoryStream(archive));
        Assert.Equal("tree/sparse/", reader.Next()?.Name);
        TarEntry entry = reader.Next()!;
        Assert.Equal("tree/sparse/holes.img", entry.Name);
        Assert.Equal(TarEntryType.Regular, entry.Type);
        Assert.Equal(ArchiveSourceTree.SparseSize, entry.Size);
        var map = Assert.IsAssignableFrom<IReadOnlyList<(long Offset, long Length)>>(entry.SparseMap);
        Assert.Equal(entry.StoredSize, map.Sum(s => s.Length));
        Assert.True(entry.StoredSize < entry.Size / 4, $"the map should leave most of the file as holes, stores {entry.StoredSize}");
        foreach (var (offset, length) in ArchiveSourceTree.SparseRegions)
            Assert.Contains(map, s => s.Offset <= offset && offset + length <= s.Offset + s.Length);
        Assert.Equal(map.OrderBy(s => s.Offset), map);

        using var content = new MemoryStream();
        reader.OpenContent().CopyTo(content);
        Assert.Equal(File.ReadAllBytes(original), content.ToArray());
        Assert.Null(reader.Next());
    }

    [Theory]
    [MemberData(nameof(SparseVersions))]
    public void Sparse_payload_is_the_data_segments_back_to_back(string version)
    {
        byte[] original = File.ReadAllBytes(Path.Join(_tree.Root, "tree/sparse/holes.img"));
        using var reader = new TarReader(new MemoryStream(File.ReadAllBytes(_tree.SparseArchive(version))));
        reader.Next();
        TarEntry entry = reader.Next()!;

        using var payload = new MemoryStream();
        reader.OpenPayload().CopyTo(payload);
        byte[] expected = entry.SparseMap!.SelectMany(s => original.AsSpan((int)s.Offset, (int)s.Length).ToArray()).ToArray();
        Assert.Equal(expected, payload.ToArray());
    }

    [Theory]
    [MemberData(nameof(SparseVersions))]
    public void Sparse_archive_raw_bytes_and_payload_reassemble_exactly(string version)
    {
        byte[] archive = File.ReadAllBytes(_tree.SparseArchive(version));
        Assert.Equal(archive, TarContents.Reassemble(archive));
    }

    [Fact]
    public void Unread_payload_is_skipped_and_the_next_entry_still_parses()
    {
        byte[] archive = File.ReadAllBytes(_tree.Archive("posix"));
        var names = new List<string>();
        using var reader = new TarReader(new MemoryStream(archive));
        while (reader.Next() is { } entry) names.Add(entry.Name);
        Assert.Equal(TarContents.ReadAll(archive).Select(e => e.Entry.Name), names);
        Assert.Equal(archive.Length, reader.Position);
    }

    private void AssertMatchesDisk(TarEntry entry, byte[] content, string format)
    {
        string path = Path.Join(_tree.Root, entry.Name.TrimEnd('/'));
        FileStatus status = Fs.Lstat(path);
        string what = $"{format}: {entry.Name}";

        Assert.True((status.Permissions & FileStatus.PermissionMask) == entry.Mode, $"{what}: mode {Convert.ToString(entry.Mode, 8)}");
        Assert.True((status.Uid, status.Gid) == (entry.Uid, entry.Gid), $"{what}: owner {entry.Uid}:{entry.Gid}");
        Timestamp mtime = format == "posix" ? status.Mtime : status.Mtime with { Nanoseconds = 0 };
        Assert.True(mtime == entry.Mtime, $"{what}: mtime {entry.Mtime}, disk {status.Mtime}");
        Assert.Equal(format == "posix", entry.Atime is not null && entry.Ctime is not null);
        if (status.Uid == 0 && format != "v7") Assert.Equal("root", entry.UserName);
        if (format == "v7") Assert.Null(entry.UserName);

        switch (entry.Type)
        {
            case TarEntryType.Directory:
                Assert.Equal(FileKind.Directory, status.Kind);
                Assert.EndsWith("/", entry.Name);
                break;
            case TarEntryType.Hardlink:
                Assert.Equal(status.Inode, Fs.Lstat(Path.Join(_tree.Root, entry.LinkName!)).Inode);
                Assert.Equal(0, entry.Size);
                break;
            case TarEntryType.Symlink:
                Assert.Equal(FileKind.Symlink, status.Kind);
                Assert.Equal(Fs.ReadLink(path), entry.LinkName);
                break;
            case TarEntryType.Regular:
                Assert.Equal(FileKind.Regular, status.Kind);
                Assert.Equal(File.ReadAllBytes(path), content);
                Assert.Equal(status.Size, entry.Size);
                Assert.Equal(entry.Size, entry.StoredSize);
                Assert.Null(entry.SparseMap);
                break;
            case TarEntryType.CharDevice or TarEntryType.BlockDevice:
                Assert.Equal(entry.Type == TarEntryType.CharDevice ? FileKind.CharDevice : FileKind.BlockDevice, status.Kind);
                Assert.True((status.RdevMajor, status.RdevMinor) == (entry.DevMajor, entry.DevMinor), $"{what}: device {entry.DevMajor},{entry.DevMinor}");
                break;
            case TarEntryType.Fifo:
                Assert.Equal(FileKind.Fifo, status.Kind);
                break;
        }
        if (entry.Type != TarEntryType.Regular) Assert.Empty(content);

        var expectedXattrs = format == "posix" && entry.Type != TarEntryType.Hardlink ? Xattrs.Read(path) : [];
        Assert.Equal(Describe(expectedXattrs), Describe(entry.Xattrs));
    }

    /// <summary>Xattrs as sorted "name=hex" lines: compares values byte for byte, ignoring order.</summary>
    public static IEnumerable<string> Describe(IEnumerable<KeyValuePair<string, byte[]>> xattrs) =>
        xattrs.Select(x => $"{x.Key}={Convert.ToHexString(x.Value)}").Order(StringComparer.Ordinal);

    private static IEnumerable<byte[]> Blocks(byte[] archive) => archive.Chunk(512);
}
