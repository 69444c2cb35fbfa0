using System.Text;
using LayerTools.Archive;
using Xunit;
using static LayerTools.Tests.Archive.HandMadeArchive;

namespace LayerTools.Tests.Archive;

/// <summary>
/// Malformed archives, one fault each: every one must end in ArchiveCorruptException with a message that
/// names the fault, and none may make the reader allocate more than a few megabytes.
/// </summary>
public sealed class TarReaderHostileTests
{
    /// <summary>Enough for the 1 MiB extension cap and the reader's buffers, far below what a trusted size would cost.</summary>
    private const long AllocationLimit = 8 << 20;

    public static TheoryData<string, byte[], string> Corpus => new()
    {
        { "truncated header", new HandMadeArchive().Header("a").ToArray()[..300], "ends inside a header block" },
        { "truncated payload", new HandMadeArchive().Header("a", size: 1000).Raw(new byte[600]).ToArray(), "ends 400 bytes before the end" },
        { "truncated padding", new HandMadeArchive().Header("a", size: 10).Raw(new byte[10]).ToArray(), "inside the padding" },
        { "bad checksum", new HandMadeArchive().Header("a", afterChecksum: b => b[0] ^= 1).End().ToArray(), "checksum does not match" },
        { "checksum not a number", new HandMadeArchive().Header("a", afterChecksum: b => b[150] = (byte)'9').End().ToArray(), "checksum does not match" },
        { "negative base-256 size", new HandMadeArchive().Header("a", edit: b => Base256(b, 124, 12, -1)).End().ToArray(), "size field is negative" },
        { "size past 2^62", new HandMadeArchive().Header("a", edit: b => Base256(b, 124, 12, (1L << 62) + 1)).End().ToArray(), "beyond any real file" },
        { "size overflowing 64 bits", new HandMadeArchive().Header("a", edit: b => { Base256(b, 124, 12, 0); b[125] = 1; }).End().ToArray(), "does not parse" },
        { "base-256 with a bad lead byte", new HandMadeArchive().Header("a", edit: b => b[108] = 0x81).End().ToArray(), "uid field does not parse" },
        { "size with a non-octal digit", new HandMadeArchive().Header("a", edit: b => Text(b, 124, "00000000089")).End().ToArray(), "size field does not parse" },
        { "mode with garbage after the digits", new HandMadeArchive().Header("a", edit: b => Text(b, 100, "0644 x")).End().ToArray(), "mode field does not parse" },
        { "uid past 32 bits", new HandMadeArchive().Header("a", edit: b => Base256(b, 108, 8, 1L << 33)).End().ToArray(), "does not fit in 32 bits" },
        { "unknown entry type", new HandMadeArchive().Header("label", type: 'V').End().ToArray(), "'V' is not supported" },
        { "empty name", new HandMadeArchive().Header("").End().ToArray(), "name is empty" },
        { "name not UTF-8", new HandMadeArchive().Header("a", edit: b => b[1] = 0xFF).End().ToArray(), "not valid UTF-8" },
        { "symlink without target", new HandMadeArchive().Header("l", type: '2').End().ToArray(), "has no target" },
        { "lone zero block before a header", new HandMadeArchive().Header("a").Raw(new byte[512]).Header("b").End().ToArray(), "lone zero block" },
        { "extended header then end marker", new HandMadeArchive().Pax(Record("path", "x")).End().ToArray(), "instead of its entry" },
        { "extended header then EOF", new HandMadeArchive().Pax(Record("path", "x")).ToArray(), "before the entry it describes" },
        { "extended data cut short", new HandMadeArchive().Header("PaxHeaders/a", type: 'x', size: 100).Raw(new byte[50]).ToArray(), "inside the PAX header" },
        { "PAX data past the cap", new HandMadeArchive().Header("PaxHeaders/a", type: 'x', size: 2 << 20).ToArray(), "more than 1048576 bytes" },
        { "PAX data past the cap in base-256", new HandMadeArchive().Header("PaxHeaders/a", type: 'x', edit: b => Base256(b, 124, 12, long.MaxValue)).ToArray(), "more than 1048576 bytes" },
        { "PAX garbage", WithPax("garbage"), "does not start with a length" },
        { "PAX length with too many digits", WithPax("99999999999999999999 path=x\n"), "does not start with a length" },
        { "PAX length past the data", WithPax("50 path=x\n"), "claims 50 bytes" },
        { "PAX length zero", WithPax("0 a=b\n"), "claims 0 bytes" },
        { "PAX length not decimal", WithPax("1x path=x\n"), "malformed length" },
        { "PAX record without '='", WithPax("10 pathxx\n"), "no key=value" },
        { "PAX record without newline", WithPax("8 a=bcde"), "newline" },
        { "PAX path with NUL", WithPax(Record("path", "a\0b")), "path contains a NUL" },
        { "PAX path not UTF-8", WithPax([.. "11 path=a"u8, 0xFF, (byte)'\n']), "path is not valid UTF-8" },
        { "PAX key with NUL", WithPax(Record("pa\0th", "x")), "NUL in its key" },
        { "PAX uid not a number", WithPax(Record("uid", "12a")), "PAX uid is not" },
        { "PAX uid past 32 bits", WithPax(Record("uid", "4294967296")), "does not fit in 32 bits" },
        { "PAX size negative", WithPax(Record("size", "-1")), "PAX size is not" },
        { "PAX size past 2^62", WithPax(Record("size", "9223372036854775807")), "beyond any real file" },
        { "PAX size overflowing", WithPax(Record("size", "99999999999999999999")), "PAX size is not" },
        { "PAX mtime malformed", WithPax(Record("mtime", "1.2.3")), "PAX mtime is not a decimal time" },
        { "PAX mtime with empty fraction", WithPax(Record("mtime", "1.")), "PAX mtime is not a decimal time" },
        { "xattr without a name", WithPax(Record("SCHILY.xattr.", "x")), "no attribute name" },
        { "global PAX past the cap", GlobalFlood(), "global PAX headers hold more than" },
        { "GNU long name with NUL inside", new HandMadeArchive().Header("././@LongLink", type: 'L', size: 6).Data("ab\0cd\0"u8.ToArray()).Header("x").End().ToArray(), "NUL inside it" },
        { "sparse 0.1 segments out of order", Sparse01("100", "50,10,0,10", 20), "overlaps or precedes" },
        { "sparse 0.1 segments overlapping", Sparse01("100", "0,20,10,10", 30), "overlaps or precedes" },
        { "sparse 0.1 segment past the size", Sparse01("100", "90,20", 20), "past the file's size" },
        { "sparse 0.1 map and data disagree", Sparse01("100", "0,10", 20), "describes 10 data bytes but the entry stores 20" },
        { "sparse 0.1 odd map", Sparse01("100", "0,10,20", 10), "odd count" },
        { "sparse 0.1 map not numbers", Sparse01("100", "0,x", 10), "GNU.sparse.map is not" },
        { "sparse 0.1 numblocks wrong", Sparse01("100", "0,10", 10, numBlocks: "2"), "numblocks" },
        { "sparse 0.0 numbytes without offset", WithPax(Record("GNU.sparse.size", "10") + Record("GNU.sparse.numbytes", "1")), "without a GNU.sparse.offset" },
        { "sparse map without size", WithPax(Record("GNU.sparse.map", "0,1")), "without GNU.sparse.size" },
        { "sparse 1.0 map garbage", Sparse10("1\n0\nabc\n", 10), "holds 'a'" },
        { "sparse 1.0 map too long for the data", Sparse10("2\n0\n5\n", 0), "holds byte 0x00" },
        { "sparse 1.0 map declaring a billion segments", Sparse10("1000000000\n", 0), "declares 1000000000 segments" },
        { "sparse 1.0 map number overflowing", Sparse10("99999999999999999999\n", 0), "overflows" },
        { "sparse 1.0 map past the entry data", Sparse10("1\n0\n5\n", 0, headerSize: 100), "runs past the entry's data" },
        { "sparse version 2.0", WithPax(Record("GNU.sparse.major", "2") + Record("GNU.sparse.minor", "0")), "sparse format 2.0 is not supported" },
        { "sparse map on a directory", WithPax(Record("GNU.sparse.size", "0") + Record("GNU.sparse.map", "0,0"), type: '5'), "not a regular file" },
        { "old GNU sparse slots overlapping", OldGnuSparse((10, 5), (12, 5)), "overlaps or precedes" },
        { "old GNU sparse slot not a number", OldGnuSparse((10, 5), (-1, 5)), "does not parse as numbers" },
        { "old GNU sparse extension missing", new HandMadeArchive().Header("s", type: 'S', size: 0, magic: "ustar  \0", edit: b => { Octal(b, 483, 12, 10); b[482] = 1; }).ToArray(), "ends before the rest of the old-GNU sparse map" },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Malformed_archive_is_refused_with_a_clear_message(string fault, byte[] archive, string expected)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ArchiveCorruptException>(() => TarContents.ReadThrough(new MemoryStream(archive)));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{fault}: message was \"{error.Message}\"");
        Assert.True(allocated < AllocationLimit, $"{fault}: reading allocated {allocated} bytes");
        Assert.NotNull(error.Offset);
    }

    [Fact]
    public void A_corrupt_entry_is_named_in_the_error()
    {
        byte[] archive = new HandMadeArchive().Header("good", size: 1000).Raw(new byte[10]).ToArray();
        var error = Assert.Throws<ArchiveCorruptException>(() => TarContents.ReadThrough(new MemoryStream(archive)));
        Assert.Equal("good", error.EntryName);
        Assert.Equal(0, error.Offset);
        Assert.StartsWith("The archive is corrupt at tar entry 'good' (header at byte 0): ", error.Message);
    }

    [Fact]
    public void A_huge_declared_size_costs_nothing_until_the_stream_runs_out()
    {
        byte[] archive = new HandMadeArchive().Header("huge", edit: b => Base256(b, 124, 12, 1L << 40)).Raw(new byte[4096]).ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var reader = new TarReader(new MemoryStream(archive));
        Assert.Equal(1L << 40, reader.Next()!.Size);
        var error = Assert.Throws<ArchiveCorruptException>(() => reader.OpenContent().CopyTo(Stream.Null));
        Assert.Contains("before the end of the entry's data", error.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < AllocationLimit);
    }

    private static byte[] WithPax(string records, char type = '0') => WithPax(Encoding.UTF8.GetBytes(records), type);

    private static byte[] WithPax(byte[] records, char type = '0') =>
        new HandMadeArchive().Pax(records).Header("entry", type).End().ToArray();

    private static byte[] Sparse01(string realSize, string map, int stored, string? numBlocks = null) =>
        new HandMadeArchive()
            .Pax(Record("GNU.sparse.size", realSize) + Record("GNU.sparse.map", map) + (numBlocks is null ? "" : Record("GNU.sparse.numblocks", numBlocks)))
            .Header("GNUSparseFile.0/s", size: stored).Data(new byte[stored]).End().ToArray();

    private static byte[] Sparse10(string mapText, int stored, long? headerSize = null) =>
        new HandMadeArchive()
            .Pax(Record("GNU.sparse.major", "1") + Record("GNU.sparse.minor", "0") + Record("GNU.sparse.name", "s") + Record("GNU.sparse.realsize", "100"))
            .Header("GNUSparseFile.0/s", size: headerSize ?? 512 + stored).Data(Encoding.ASCII.GetBytes(mapText)).Data(new byte[stored]).End().ToArray();

    private static byte[] OldGnuSparse(params (long Offset, long Length)[] slots) =>
        new HandMadeArchive().Header("s", type: 'S', size: slots.Sum(s => Math.Max(0, s.Length)), magic: "ustar  \0", edit: b =>
        {
            Octal(b, 483, 12, 100);
            for (int i = 0; i < slots.Length; i++)
            {
                if (slots[i].Offset < 0) Text(b, 386 + i * 24, "garbage!");
                else Octal(b, 386 + i * 24, 12, slots[i].Offset);
                Octal(b, 398 + i * 24, 12, slots[i].Length);
            }
        }).Data(new byte[slots.Sum(s => s.Length)]).End().ToArray();

    /// <summary>Two global headers each under the per-header cap, whose distinct keys together pass it.</summary>
    private static byte[] GlobalFlood()
    {
        string value = new('v', 600_000);
        return new HandMadeArchive().Pax(Record("comment.one", value), 'g').Pax(Record("comment.two", value), 'g').Header("a").End().ToArray();
    }
}
