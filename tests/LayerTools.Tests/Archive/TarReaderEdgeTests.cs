using System.Text;
using LayerTools.Archive;
using LayerTools.Native;
using Xunit;
using static LayerTools.Tests.Archive.HandMadeArchive;

namespace LayerTools.Tests.Archive;

/// <summary>Inputs that are odd but legal (or that GNU tar tolerates), and the reader's contract around content streams.</summary>
public sealed class TarReaderEdgeTests
{
    private static List<TarEntry> Entries(byte[] archive) => TarContents.ReadAll(archive).Select(e => e.Entry).ToList();

    [Fact]
    public void An_archive_needs_its_end_marker_so_a_cut_at_a_block_boundary_is_caught()
    {
        // GNU tar accepts a clean EOF where a header would start; so would a truncated download.
        var cut = Assert.Throws<ArchiveCorruptException>(() => Entries(new HandMadeArchive().Header("a").Header("b").ToArray()));
        Assert.Contains("end-of-archive marker", cut.Message);
        Assert.Throws<ArchiveCorruptException>(() => Entries([]));
        // One zero block and then EOF still counts as an end, as GNU tar has it.
        Assert.Equal(["a"], Entries(new HandMadeArchive().Header("a").Raw(new byte[512]).ToArray()).Select(e => e.Name));
    }

    [Fact]
    public void Bytes_after_the_end_marker_are_consumed_as_raw()
    {
        byte[] archive = new HandMadeArchive().Header("a", size: 3).Data("abc"u8.ToArray()).End().Raw(new byte[9216]).Raw("trailing garbage"u8.ToArray()).ToArray();
        Assert.Equal(archive, TarContents.Reassemble(archive));
        using var reader = new TarReader(new MemoryStream(archive));
        while (reader.Next() is not null) { }
        Assert.Equal(archive.Length, reader.Position);
        Assert.Null(reader.Next());
    }

    [Fact]
    public void Global_records_apply_to_later_entries_and_entry_records_override_them()
    {
        byte[] archive = new HandMadeArchive()
            .Header("before")
            .Pax(Record("uid", "77") + Record("comment", "global") + Record("SCHILY.xattr.user.g", "G"), 'g')
            .Header("plain")
            .Pax(Record("uid", "88") + Record("comment", "own") + Record("vendor.key", "v"))
            .Header("overridden")
            // An empty value cancels the global uid for this entry: the header's uid (0) applies again.
            .Pax(Record("uid", ""))
            .Header("cancelled")
            .End().ToArray();

        var entries = Entries(archive);

        Assert.Equal([0u, 77u, 88u, 0u], entries.Select(e => e.Uid));
        Assert.Empty(entries[0].ExtraPax);
        Assert.Equal("comment=global", Extra(entries[1]));
        Assert.Equal("comment=own,vendor.key=v", Extra(entries[2]));
        Assert.Equal(["user.g"], entries[3].Xattrs.Select(x => x.Key));
    }

    [Fact]
    public void Header_numbers_may_end_in_space_or_nul_and_start_with_spaces()
    {
        byte[] archive = new HandMadeArchive().Header("a", edit: b =>
        {
            Text(b, 100, "   644 \0");
            Text(b, 108, "1750 \0\0\0");
            Text(b, 116, "0001751 ");
            Text(b, 136, "14524770400 ");
        }).End().ToArray();

        TarEntry entry = Assert.Single(Entries(archive));
        Assert.Equal((0x1A4u, 1000u, 1001u), (entry.Mode, entry.Uid, entry.Gid));
        Assert.Equal(new Timestamp(1_700_000_000, 0), entry.Mtime);
    }

    [Fact]
    public void Base256_fields_carry_large_and_negative_values()
    {
        byte[] archive = new HandMadeArchive().Header("a", edit: b =>
        {
            Base256(b, 108, 8, 4_000_000_000);
            Base256(b, 136, 12, -86_400);
        }).End().ToArray();

        TarEntry entry = Assert.Single(Entries(archive));
        Assert.Equal(4_000_000_000u, entry.Uid);
        Assert.Equal(new Timestamp(-86_400, 0), entry.Mtime);
    }

    [Theory]
    [InlineData("1700000000.123456789", 1_700_000_000, 123_456_789u)]
    [InlineData("1700000000.5", 1_700_000_000, 500_000_000u)]
    [InlineData("1700000000.1234567891234", 1_700_000_000, 123_456_789u)]
    [InlineData("-1.5", -2, 500_000_000u)]
    [InlineData("-0.25", -1, 750_000_000u)]
    [InlineData("-31535999.75", -31_536_000, 250_000_000u)]
    [InlineData("-7", -7, 0u)]
    public void Pax_times_keep_nanoseconds_and_negative_values(string text, long seconds, uint nanoseconds)
    {
        byte[] archive = new HandMadeArchive().Pax(Record("mtime", text) + Record("atime", text) + Record("ctime", text)).Header("a").End().ToArray();
        TarEntry entry = Assert.Single(Entries(archive));
        var expected = new Timestamp(seconds, nanoseconds);
        Assert.Equal((expected, expected, expected), (entry.Mtime, entry.Atime, entry.Ctime));
    }

    [Fact]
    public void A_signed_checksum_is_accepted()
    {
        byte[] archive = new HandMadeArchive().Header("é", afterChecksum: b =>
        {
            // Historic tars summed the bytes as signed chars; é is two bytes above 0x7F.
            Array.Fill(b, (byte)' ', 148, 8);
            int signedSum = b.Sum(x => (sbyte)x);
            Encoding.ASCII.GetBytes(Convert.ToString(signedSum, 8).PadLeft(6, '0')).CopyTo(b, 148);
            b[154] = 0;
        }).End().ToArray();
        Assert.Equal("é", Assert.Single(Entries(archive)).Name);
    }

    [Fact]
    public void Pre_posix_types_map_to_regular_files_and_slashed_directories()
    {
        byte[] archive = new HandMadeArchive()
            .Header("old-file", type: '\0', magic: "\0\0\0\0\0\0\0\0")
            .Header("old-dir/", type: '\0', magic: "\0\0\0\0\0\0\0\0")
            .Header("contiguous", type: '7')
            .End().ToArray();
        Assert.Equal([TarEntryType.Regular, TarEntryType.Directory, TarEntryType.Regular], Entries(archive).Select(e => e.Type));
    }

    [Fact]
    public void Sizes_on_header_only_entries_follow_gnu_tar()
    {
        // GNU tar skips data after a symlink, device or FIFO whose header claims some, but never after a
        // directory or a hard link; mirroring it keeps the two readers in step on odd archives.
        byte[] archive = new HandMadeArchive()
            .Header("sym", type: '2', size: 5, edit: b => Text(b, 157, "target")).Data("12345"u8.ToArray())
            .Header("dir/", type: '5', size: 700)
            .Header("hard", type: '1', size: 700, edit: b => Text(b, 157, "sym"))
            .Header("after")
            .End().ToArray();

        var entries = TarContents.ReadAll(archive);
        Assert.Equal(["sym", "dir/", "hard", "after"], entries.Select(e => e.Entry.Name));
        Assert.Equal("12345"u8.ToArray(), entries[0].Content);
        Assert.Equal((0L, 0L), (entries[1].Entry.Size, entries[1].Entry.StoredSize));
        Assert.Equal((0L, 0L), (entries[2].Entry.Size, entries[2].Entry.StoredSize));
        Assert.Equal(archive, TarContents.Reassemble(archive));
    }

    [Fact]
    public void Gnu_long_link_and_pax_linkpath_name_the_target()
    {
        string target = new('t', 300);
        byte[] archive = new HandMadeArchive()
            .Header("././@LongLink", type: 'K', size: 301).Data(Encoding.ASCII.GetBytes(target + "\0"))
            .Header("gnu-link", type: '2', magic: "ustar  \0")
            .Pax(Record("linkpath", target))
            .Header("pax-link", type: '1')
            .End().ToArray();
        Assert.All(Entries(archive), e => Assert.Equal(target, e.LinkName));
    }

    [Fact]
    public void Content_streams_are_single_use_and_die_with_their_entry()
    {
        byte[] archive = new HandMadeArchive().Header("a", size: 3).Data("abc"u8.ToArray()).Header("b").End().ToArray();
        using var reader = new TarReader(new MemoryStream(archive));

        Assert.Throws<InvalidOperationException>(() => reader.OpenContent());
        reader.Next();
        Stream content = reader.OpenContent();
        Assert.Throws<InvalidOperationException>(() => reader.OpenPayload());
        Assert.Equal((byte)'a', content.ReadByte());
        reader.Next();
        Assert.Throws<InvalidOperationException>(() => content.ReadByte());
    }

    [Fact]
    public void The_raw_sink_never_sees_payload()
    {
        byte[] payload = Enumerable.Repeat((byte)0xAB, 700).ToArray();
        byte[] archive = new HandMadeArchive().Header("a", size: 700).Data(payload).End().ToArray();
        var raw = new MemoryStream();
        using (var reader = new TarReader(new MemoryStream(archive), bytes => raw.Write(bytes)))
            while (reader.Next() is not null) { }

        Assert.Equal(archive.Length - 700, raw.Length);
        Assert.DoesNotContain((byte)0xAB, raw.ToArray());
    }

    private static string Extra(TarEntry entry) => string.Join(",", entry.ExtraPax.Select(x => $"{x.Key}={Encoding.UTF8.GetString(x.Value)}"));
}
