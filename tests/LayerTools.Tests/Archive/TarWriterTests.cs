using System.Text;
using LayerTools.Archive;
using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>What the writer produces, judged by GNU tar (listing and extracting it) and by reading it back.</summary>
public sealed class TarWriterTests : IClassFixture<ArchiveSourceTree>
{
    private static readonly Timestamp Stamp = new(1_700_000_000, 123_456_789);

    private readonly ArchiveSourceTree _tree;

    public TarWriterTests(ArchiveSourceTree tree) => _tree = tree;

    /// <summary>Entries covering every type and every reason for a PAX header, with their contents.</summary>
    private static List<(TarEntry Entry, byte[] Content)> Sample()
    {
        string longDirectory = "out/" + new string('a', 100);
        string deepDirectory = longDirectory + "/" + new string('b', 100);
        string splitDirectory = "out/" + new string('p', 50);
        TarEntry Dir(string name, string mode, long second) =>
            new() { Name = name, Type = TarEntryType.Directory, Mode = Octal(mode), Mtime = new Timestamp(1_600_000_000 + second, 0), UserName = "root", GroupName = "root" };
        (TarEntry, byte[]) File(string name, string text, Func<TarEntry, TarEntry>? edit = null)
        {
            byte[] content = Encoding.UTF8.GetBytes(text);
            var entry = new TarEntry { Name = name, Type = TarEntryType.Regular, Mode = Octal("644"), Size = content.Length, Mtime = Stamp };
            return (edit is null ? entry : edit(entry), content);
        }

        return
        [
            (Dir("out/", "755", 1), []),
            (Dir("out/sticky", "1777", 2), []),
            File("out/file.txt", "hello, layer\n", e => e with
            {
                Uid = 1000, Gid = 1001, UserName = "someone", GroupName = "staff",
                Atime = new Timestamp(1_650_000_000, 5), Ctime = new Timestamp(1_650_000_001, 0),
                Xattrs = [.. ArchiveSourceTree.FileXattrs],
            }),
            File("out/ping", "\u007FELF", e => e with { Mode = Octal("4755"), Uid = 1234, Gid = 5678, Xattrs = [new("security.capability", FixtureTree.NetBindServiceCapability())] }),
            File("out/ünïcødé.txt", "utf-8 names survive\n"),
            File("out/empty", ""),
            File("out/binary", "\0\u0001\u00ff binary \0"),
            File("out/owned-far", "big ids\n", e => e with { Uid = 3_000_000, Gid = 3_000_001 }),
            File("out/before-1970", "old\n", e => e with { Mtime = new Timestamp(-31_536_000, 250_000_000) }),
            File("out/commented", "extra pax\n", e => e with { ExtraPax = [new("comment", "kept as is"u8.ToArray())] }),
            (Dir(longDirectory, "755", 3), []),
            (Dir(deepDirectory, "700", 4), []),
            File(deepDirectory + "/" + new string('c', 100) + ".txt", "deep and long\n"),
            (Dir(splitDirectory, "755", 5), []),
            File(splitDirectory + "/" + new string('q', 90) + ".txt", "split into prefix and name\n"),
            (new TarEntry { Name = "out/symlink", Type = TarEntryType.Symlink, Mode = Octal("777"), LinkName = "file.txt", Mtime = Stamp, Uid = 42, Gid = 43 }, []),
            (new TarEntry { Name = "out/far-link", Type = TarEntryType.Symlink, Mode = Octal("777"), LinkName = "/" + new string('t', 150), Mtime = Stamp }, []),
            (new TarEntry { Name = "out/hardlink", Type = TarEntryType.Hardlink, Mode = Octal("644"), LinkName = "out/file.txt", Mtime = Stamp, Uid = 1000, Gid = 1001 }, []),
            (new TarEntry { Name = "out/fifo", Type = TarEntryType.Fifo, Mode = Octal("620"), Mtime = Stamp }, []),
            (new TarEntry { Name = "out/null", Type = TarEntryType.CharDevice, Mode = Octal("666"), DevMajor = 1, DevMinor = 3, Mtime = Stamp }, []),
            (new TarEntry { Name = "out/loop7", Type = TarEntryType.BlockDevice, Mode = Octal("660"), DevMajor = 7, DevMinor = 7, Mtime = Stamp, Gid = 6 }, []),
        ];
    }

    private static byte[] Write(IEnumerable<(TarEntry Entry, byte[] Content)> entries)
    {
        var output = new MemoryStream();
        using (var writer = new TarWriter(output, leaveOpen: true))
        {
            foreach (var (entry, content) in entries)
                writer.WriteEntry(entry, entry.Type == TarEntryType.Regular ? new MemoryStream(content) : null);
        }
        return output.ToArray();
    }

    [Fact]
    public void Gnu_tar_lists_every_entry_by_its_name()
    {
        var sample = Sample();
        string archive = _tree.Scratch("listed.tar");
        File.WriteAllBytes(archive, Write(sample));

        ExternalTool.Run("tar", "-tvf", archive);
        string[] listed = ExternalTool.RunText("tar", "-tf", archive).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(sample.Select(s => s.Entry.Type == TarEntryType.Directory ? s.Entry.Name.TrimEnd('/') + "/" : s.Entry.Name), listed);
    }

    [Fact]
    public void Gnu_tar_extracts_every_attribute_exactly()
    {
        var sample = Sample();
        string archive = _tree.Scratch("extracted.tar");
        string target = _tree.Scratch("extracted");
        Directory.CreateDirectory(target);
        File.WriteAllBytes(archive, Write(sample));

        // Numeric ids: otherwise GNU tar maps the stored group name "staff" to the host's staff group.
        ExternalTool.Run("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", target);

        foreach (var (entry, content) in sample)
        {
            string path = Path.Join(target, entry.Name.TrimEnd('/'));
            FileStatus status = Fs.Lstat(path);
            string what = entry.Name;
            Assert.True(entry.Mode == (status.Permissions & FileStatus.PermissionMask), $"{what}: mode {Convert.ToString(status.Permissions, 8)}");
            Assert.True((entry.Uid, entry.Gid) == (status.Uid, status.Gid), $"{what}: owner {status.Uid}:{status.Gid}");
            if (entry.Type != TarEntryType.Hardlink)
                Assert.True(entry.Mtime == status.Mtime, $"{what}: mtime {status.Mtime}, wrote {entry.Mtime}");
            switch (entry.Type)
            {
                case TarEntryType.Regular:
                    Assert.Equal(FileKind.Regular, status.Kind);
                    Assert.Equal(content, File.ReadAllBytes(path));
                    Assert.Equal(TarReaderFormatTests.Describe(entry.Xattrs), TarReaderFormatTests.Describe(Xattrs.Read(path)));
                    break;
                case TarEntryType.Directory:
                    Assert.Equal(FileKind.Directory, status.Kind);
                    break;
                case TarEntryType.Symlink:
                    Assert.Equal(entry.LinkName, Fs.ReadLink(path));
                    break;
                case TarEntryType.Hardlink:
                    Assert.Equal(Fs.Lstat(Path.Join(target, entry.LinkName!)).Inode, status.Inode);
                    break;
                case TarEntryType.Fifo:
                    Assert.Equal(FileKind.Fifo, status.Kind);
                    break;
                case TarEntryType.CharDevice or TarEntryType.BlockDevice:
                    Assert.Equal(entry.Type == TarEntryType.CharDevice ? FileKind.CharDevice : FileKind.BlockDevice, status.Kind);
                    Assert.True((entry.DevMajor, entry.DevMinor) == (status.RdevMajor, status.RdevMinor), $"{what}: device {status.RdevMajor},{status.RdevMinor}");
                    break;
            }
        }
    }

    [Fact]
    public void Our_reader_reads_back_exactly_what_was_written()
    {
        var sample = Sample();
        var read = TarContents.ReadAll(Write(sample));

        Assert.Equal(sample.Count, read.Count);
        foreach (var ((written, content), (back, backContent)) in sample.Zip(read))
        {
            TarEntry expected = written with
            {
                Name = written.Type == TarEntryType.Directory ? written.Name.TrimEnd('/') + "/" : written.Name,
                StoredSize = written.Size,
            };
            Assert.Equal(Describe(expected), Describe(back));
            Assert.Equal(content, backContent);
        }
    }

    [Fact]
    public void Writing_the_same_entries_twice_gives_the_same_bytes()
    {
        Assert.Equal(Write(Sample()), Write(Sample()));
    }

    [Fact]
    public void A_plain_entry_is_one_header_and_padded_payload()
    {
        byte[] content = new byte[1000];
        byte[] archive = Write([(new TarEntry { Name = "plain.txt", Type = TarEntryType.Regular, Mode = Octal("644"), Size = 1000, Mtime = new Timestamp(1_700_000_000, 0) }, content)]);

        Assert.Equal(512 + 1024 + 1024, archive.Length);
        Assert.Equal((byte)'0', archive[156]);
        Assert.All(archive[1536..], b => Assert.Equal(0, b));
    }

    public static TheoryData<string, Func<TarEntry, TarEntry>, bool> PaxCases => new()
    {
        { "100-byte name", e => e with { Name = new string('n', 100) }, false },
        { "splittable 150-byte name", e => e with { Name = new string('d', 60) + "/" + new string('n', 89) }, false },
        { "101-byte name without a slash", e => e with { Name = new string('n', 101) }, true },
        { "non-ASCII name", e => e with { Name = "é" }, true },
        { "nanoseconds", e => e with { Mtime = new Timestamp(1_700_000_000, 1) }, true },
        { "time before 1970", e => e with { Mtime = new Timestamp(-1, 0) }, true },
        { "largest octal uid", e => e with { Uid = 2_097_151 }, false },
        { "uid past octal", e => e with { Uid = 2_097_152 }, true },
        { "31-byte user name", e => e with { UserName = new string('u', 31) }, false },
        { "32-byte user name", e => e with { UserName = new string('u', 32) }, true },
        { "non-ASCII group name", e => e with { GroupName = "grüppe" }, true },
        { "atime", e => e with { Atime = new Timestamp(1, 0) }, true },
        { "xattr", e => e with { Xattrs = [new("user.a", [1])] }, true },
        { "100-byte link", e => e with { Type = TarEntryType.Symlink, LinkName = new string('l', 100) }, false },
        { "101-byte link", e => e with { Type = TarEntryType.Symlink, LinkName = new string('l', 101) }, true },
    };

    [Theory]
    [MemberData(nameof(PaxCases))]
    public void A_pax_header_appears_only_when_ustar_cannot_say_it(string why, Func<TarEntry, TarEntry> edit, bool needsPax)
    {
        TarEntry entry = edit(new TarEntry { Name = "name", Type = TarEntryType.Regular, Mode = Octal("644"), Mtime = new Timestamp(1_700_000_000, 0) });
        byte[] archive = Write([(entry, [])]);

        Assert.True(needsPax == (archive[156] == (byte)'x'), $"{why}: first header type '{(char)archive[156]}'");
        Assert.Equal(Describe(entry with { StoredSize = 0 }), Describe(TarContents.ReadAll(archive).Single().Entry));
    }

    [Fact]
    public void Size_past_the_octal_field_goes_to_pax_and_reads_back()
    {
        const long size = (1L << 33) + 1; // 8 GiB + 1, one past the 11-digit octal field
        var output = new HeaderCapture(4096);
        using (var writer = new TarWriter(output))
            writer.WriteEntry(new TarEntry { Name = "huge", Type = TarEntryType.Regular, Mode = Octal("644"), Size = size }, new ZeroStream(size));

        Assert.Equal((byte)'x', output.Head[156]);
        Assert.Contains("size=8589934593\n", Encoding.ASCII.GetString(output.Head));
        Assert.Equal(1024 + 512 + size + 511 + 1024, output.Length);
        using var reader = new TarReader(new MemoryStream(output.Head), leaveOpen: false);
        Assert.Equal(size, reader.Next()!.Size);
    }

    [Fact]
    public void Headers_match_gnu_tar_ustar_byte_for_byte()
    {
        // GNU tar's ustar output for whole-second files is what a PAX-free entry of ours must look like.
        string source = _tree.Scratch("ustar-source");
        Fs.Mkdir(source, Octal("755"));
        File.WriteAllText(Path.Join(source, "file"), "content\n");
        Fs.Link(Path.Join(source, "file"), Path.Join(source, "hard"));
        Fs.Symlink("file", Path.Join(source, "sym"));
        Fs.Mknod(Path.Join(source, "null"), FileKind.CharDevice, Octal("666"), 1, 3);
        Fs.Mknod(Path.Join(source, "fifo"), FileKind.Fifo, Octal("600"), 0, 0);
        Fs.Mkdir(Path.Join(source, new string('p', 60)), Octal("700"));
        File.WriteAllText(Path.Join(source, new string('p', 60), new string('n', 90)), "split\n");
        foreach (string path in Directory.EnumerateFileSystemEntries(source, "*", SearchOption.AllDirectories).Append(source))
            Fs.SetTimes(path, new Timestamp(1_600_000_000, 0), new Timestamp(1_600_000_000, 0));
        string archive = _tree.Scratch("gnu-ustar-headers.tar");
        ExternalTool.Run("tar", "--format=ustar", "--sort=name", "-C", _tree.Scratch(""), "-cf", archive, "ustar-source");
        byte[] gnu = File.ReadAllBytes(archive);

        byte[] ours = Write(TarContents.ReadAll(gnu));

        Assert.Equal(gnu[..(ours.Length - 1024)], ours[..^1024]);
        Assert.All(gnu[(ours.Length - 1024)..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Raw_copy_of_a_read_archive_reproduces_it_exactly()
    {
        byte[] original = File.ReadAllBytes(_tree.SparseArchive("1.0"));
        var output = new MemoryStream();
        using (var writer = new TarWriter(output, leaveOpen: true))
        using (var reader = new TarReader(new MemoryStream(original), bytes => writer.WriteRaw(bytes)))
        {
            while (reader.Next() is { } entry)
                writer.WriteRaw(reader.OpenPayload(), entry.StoredSize);
            writer.Finish(writeEndMarker: false);
        }
        Assert.Equal(original, output.ToArray());
    }

    [Fact]
    public void Invalid_entries_are_refused_before_anything_is_written()
    {
        var regular = new TarEntry { Name = "f", Type = TarEntryType.Regular, Mode = Octal("644") };
        var output = new MemoryStream();
        using var writer = new TarWriter(output, leaveOpen: true);

        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Name = "" }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Name = "a\0b" }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Mode = Octal("100644") }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Size = 5 }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Type = TarEntryType.Directory, Size = 5 }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Type = TarEntryType.Symlink }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { LinkName = "x" }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { DevMajor = 1 }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Mtime = new Timestamp(0, 1_000_000_000) }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Xattrs = [new("user.a", []), new("user.a", [])] }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { ExtraPax = [new("path", "x"u8.ToArray())] }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { Xattrs = [new("user.big", new byte[(1 << 20) + 1])] }));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(regular with { SparseMap = [(0, 1)] }));
        Assert.Equal(0, output.Length);
    }

    [Fact]
    public void Content_that_does_not_match_the_size_is_refused()
    {
        var entry = new TarEntry { Name = "f", Type = TarEntryType.Regular, Mode = Octal("644"), Size = 10 };
        using var writer = new TarWriter(new MemoryStream());
        Assert.Throws<EndOfStreamException>(() => writer.WriteEntry(entry, new MemoryStream(new byte[9])));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(entry, new MemoryStream(new byte[11])));
    }

    [Fact]
    public void Nothing_can_be_written_after_finish()
    {
        var output = new MemoryStream();
        using var writer = new TarWriter(output, leaveOpen: true);
        writer.Finish();
        Assert.Equal(1024, output.Length);
        Assert.Throws<InvalidOperationException>(() => writer.WriteRaw([1]));
    }

    /// <summary>Every field as text, so a mismatch names the field.</summary>
    private static string Describe(TarEntry e) =>
        $"{e.Name}|{e.Type}|{Convert.ToString(e.Mode, 8)}|{e.Uid}:{e.Gid}|{e.UserName}:{e.GroupName}|{e.Size}/{e.StoredSize}|{e.Mtime}|{e.Atime}|{e.Ctime}|{e.LinkName}|{e.DevMajor},{e.DevMinor}"
        + $"|{string.Join(",", TarReaderFormatTests.Describe(e.Xattrs))}|{string.Join(",", e.ExtraPax.Select(x => x.Key + "=" + Convert.ToHexString(x.Value)))}|{e.SparseMap is not null}";

    private static uint Octal(string digits) => Convert.ToUInt32(digits, 8);
}
