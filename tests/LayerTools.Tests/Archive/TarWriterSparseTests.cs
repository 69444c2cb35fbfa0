using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using LayerTools.Archive;
using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>Sparse files as the writer stores them (GNU PAX sparse 1.0), judged by GNU tar and by reading them back.</summary>
public sealed class TarWriterSparseTests : IDisposable
{
    private const long Size = 64L << 20;
    private static readonly Timestamp Stamp = new(1_700_000_000, 0);

    /// <summary>
    /// Data near the start, in the middle and up to the very end, the rest of the 64 MiB being holes. Only
    /// the last segment may end inside a 512-byte block.
    /// </summary>
    private static readonly (long Offset, long Length)[] Segments = [(4096, 8192), (32L << 20, 5120), (Size - 1000, 1000)];

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Gnu_tar_lists_the_file_and_extracts_it_with_its_holes()
    {
        string archive = _directory.Combine("sparse.tar");
        File.WriteAllBytes(archive, Write(Entry(Segments), Packed(Segments)));

        string[] listed = ExternalTool.RunText("tar", "-tvf", archive).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(listed);
        Assert.Matches($@"^-rw-r--r-- 0/0 +{Size} \S+ \S+ out/holes\.img$", listed[0]);

        string target = _directory.Combine("extracted");
        Directory.CreateDirectory(target);
        ExternalTool.Run("tar", "-xpSf", archive, "-C", target);
        // Only the real name: nothing under the made-up GNUSparseFile.0 name GNU tar understood.
        Assert.Equal(["out/holes.img"], Directory.EnumerateFileSystemEntries(target, "*", SearchOption.AllDirectories)
            .Where(File.Exists).Select(path => Path.GetRelativePath(target, path)));
        string extracted = Path.Join(target, "out/holes.img");
        FileStatus status = Fs.Lstat(extracted);
        Assert.Equal(Size, status.Size);
        Assert.True(status.Blocks * 512 < Size, $"GNU tar extracted {status.Blocks} blocks: the holes were filled");
        using FileStream file = File.OpenRead(extracted);
        Assert.Equal(Sha256(Expanded(Segments)), SHA256.HashData(file));
    }

    [Fact]
    public void The_reader_gives_back_the_map_the_sizes_and_the_packed_content()
    {
        (long, long)[] map = [.. Segments, (Size, 0)];
        byte[] packed = Packed(map);
        var (entry, payload) = ReadSingle(Write(Entry(map), packed));

        Assert.Equal("out/holes.img", entry.Name);
        Assert.Equal(TarEntryType.Regular, entry.Type);
        Assert.Equal(Size, entry.Size);
        Assert.Equal(packed.Length, entry.StoredSize);
        Assert.Equal(map, entry.SparseMap);
        Assert.Equal(packed, payload);
        Assert.Equal(Stamp, entry.Mtime);
    }

    [Fact]
    public void The_map_always_ends_with_the_empty_segment_at_the_size_as_gnu_tar_writes_it()
    {
        byte[] unterminated = Write(Entry(Segments), Packed(Segments));
        byte[] terminated = Write(Entry([.. Segments, (Size, 0)]), Packed(Segments));
        Assert.Equal(terminated, unterminated);

        // The map opens the entry's data, in decimal, padded with NULs to a block.
        string map = $"4\n4096\n8192\n{32L << 20}\n5120\n{Size - 1000}\n1000\n{Size}\n0\n";
        int data = FindBlock(unterminated, Encoding.ASCII.GetBytes(map));
        Assert.True(data > 0, "the map text does not start a block");
        Assert.True(unterminated.AsSpan(data + map.Length, 512 - map.Length).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(Packed(Segments), unterminated.AsSpan(data + 512, Packed(Segments).Length).ToArray());
    }

    [Fact]
    public void A_file_of_holes_only_stores_just_the_map()
    {
        byte[] archive = Write(Entry([]), null);
        var (entry, payload) = ReadSingle(archive);
        Assert.Equal(new[] { (Size, 0L) }, entry.SparseMap);
        Assert.Empty(payload);
        // The PAX header and its records, the entry's header, one block of map, the end marker.
        Assert.Equal(6 * 512, archive.Length);

        string file = _directory.Combine("holes.tar");
        File.WriteAllBytes(file, archive);
        string target = _directory.Combine("holes");
        Directory.CreateDirectory(target);
        ExternalTool.Run("tar", "-xpSf", file, "-C", target);
        FileStatus status = Fs.Lstat(Path.Join(target, "out/holes.img"));
        Assert.Equal(Size, status.Size);
        Assert.Equal(0, status.Blocks);
    }

    [Fact]
    public void Writing_the_same_sparse_entry_twice_gives_the_same_bytes()
    {
        TarEntry entry = Entry(Segments) with { Atime = new Timestamp(1_650_000_000, 5), Xattrs = [new("user.note", [1, 0, 2])] };
        Assert.Equal(Write(entry, Packed(Segments)), Write(entry, Packed(Segments)));
    }

    [Fact]
    public void Bad_maps_and_content_that_disagrees_with_the_map_are_refused_before_anything_is_written()
    {
        var output = new MemoryStream();
        using var writer = new TarWriter(output, leaveOpen: true);
        TarEntry Small((long, long)[] map) => Entry(map) with { Size = 100 };
        MemoryStream Bytes(int count) => new(new byte[count]);

        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(0, 10), (5, 10)]), Bytes(20)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(50, 10), (0, 10)]), Bytes(20)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(95, 10)]), Bytes(10)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(-1, 10)]), Bytes(10)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(0, -1)]), null));
        // GNU tar would read the second segment from the next block boundary, not right after the first.
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(0, 10), (50, 10)]), Bytes(20)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(0, 10)]), Bytes(9)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(0, 10)]), Bytes(11)));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([(0, 10)]), null));
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Small([]) with { Type = TarEntryType.Directory, Size = 0 }));
        // With the segment that ends the map, one more than a reader takes.
        Assert.Throws<ArgumentException>(() => writer.WriteEntry(Entry(Enumerable.Range(0, SparseMapBuilder.MaxSegments).Select(i => ((long)i, 0L)).ToArray())));
        Assert.Equal(0, output.Length);
    }

    [Fact]
    public void A_layer_export_stores_sparse_files_byte_for_byte_as_gnu_tar_does()
    {
        string root = _directory.Combine("tree");
        string longDirectory = "long/" + new string('x', 120);
        Directory.CreateDirectory(Path.Join(root, "ünï"));
        Directory.CreateDirectory(Path.Join(root, longDirectory));
        File.WriteAllText(Path.Join(root, "plain.txt"), "hello, layer\n");
        MakeSparse(Path.Join(root, "holes.img"), Size, [(4096, 4096), (32L << 20, 8192)]);
        MakeSparse(Path.Join(root, "tail.img"), (1 << 20) + 100, [((1 << 20) - 4096, 4196)]);
        MakeSparse(Path.Join(root, "none.img"), 1 << 20, []);
        MakeSparse(Path.Join(root, "ünï/héllo.img"), 1 << 20, [(0, 4096)]);
        MakeSparse(Path.Join(root, longDirectory, "deep.img"), 1 << 20, [(512 << 10, 4096)]);
        string[] names = ["plain.txt", "holes.img", "tail.img", "none.img", "ünï/héllo.img", longDirectory + "/deep.img"];
        foreach (string name in names) Fs.SetTimes(Path.Join(root, name), Stamp, Stamp);

        var output = new MemoryStream();
        using (var tar = new TarWriter(output, leaveOpen: true))
            ChangesetWriter.Write(tar, root, names.Select(name => new LayerChange { Path = "/" + name, Kind = ChangeKind.Added }), null);

        string gnu = _directory.Combine("gnu.tar");
        ExternalTool.Run("tar", ["--format=posix", "--sparse-version=1.0", "-S", "--numeric-owner",
            "--pax-option=delete=atime,delete=ctime", "-C", root, "-cf", gnu, .. names]);
        Assert.Equal(WithOurSparseNames(File.ReadAllBytes(gnu)), output.ToArray());
        // The holes stayed out: a few blocks per file, not 67 MiB of zeros.
        Assert.True(output.Length < 64 * 1024, $"the export is {output.Length} bytes");
    }

    private static TarEntry Entry(IReadOnlyList<(long Offset, long Length)> map) => new()
    {
        Name = "out/holes.img", Type = TarEntryType.Regular, Mode = Convert.ToUInt32("644", 8), Size = Size, Mtime = Stamp, SparseMap = map,
    };

    /// <summary>The segments' bytes back to back: a pattern that differs by offset, so a misplaced segment shows.</summary>
    private static byte[] Packed(IEnumerable<(long Offset, long Length)> map) =>
        map.SelectMany(segment => Enumerable.Range(0, (int)segment.Length).Select(i => (byte)((segment.Offset + i) % 251 + 1))).ToArray();

    /// <summary>The logical file the map and <see cref="Packed"/> describe, holes as zeros.</summary>
    private static Stream Expanded(IReadOnlyList<(long Offset, long Length)> map) =>
        new SparseContentStream(new MemoryStream(Packed(map)), map, Size);

    private static byte[] Sha256(Stream stream)
    {
        using (stream) return SHA256.HashData(stream);
    }

    private static byte[] Write(TarEntry entry, byte[]? packed)
    {
        var output = new MemoryStream();
        using (var writer = new TarWriter(output, leaveOpen: true))
            writer.WriteEntry(entry, packed is null ? null : new MemoryStream(packed));
        return output.ToArray();
    }

    private static (TarEntry Entry, byte[] Payload) ReadSingle(byte[] archive)
    {
        using var reader = new TarReader(new MemoryStream(archive));
        TarEntry entry = reader.Next() ?? throw new Xunit.Sdk.XunitException("the archive is empty");
        var payload = new MemoryStream();
        reader.OpenPayload().CopyTo(payload);
        Assert.Null(reader.Next());
        return (entry, payload.ToArray());
    }

    /// <summary>The offset of the first block that starts with <paramref name="prefix"/>, or -1.</summary>
    private static int FindBlock(byte[] archive, byte[] prefix)
    {
        for (int offset = 0; offset < archive.Length; offset += 512)
        {
            if (archive.AsSpan(offset).StartsWith(prefix)) return offset;
        }
        return -1;
    }

    /// <summary>A file of <paramref name="size"/> bytes holding data only in <paramref name="regions"/>.</summary>
    private static void MakeSparse(string path, long size, (long Offset, int Length)[] regions)
    {
        using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        RandomAccess.SetLength(handle, size);
        foreach (var (offset, length) in regions)
            RandomAccess.Write(handle, Enumerable.Range(0, length).Select(i => (byte)('a' + (offset + i) % 26)).ToArray(), offset);
    }

    /// <summary>
    /// GNU tar's archive with the fixed "GNUSparseFile.0" where GNU tar puts its pid, in header names and PAX
    /// path records (sizes and checksums redone), ended as our writer ends one: two zero blocks, no record padding.
    /// </summary>
    private static byte[] WithOurSparseNames(byte[] archive)
    {
        var output = new MemoryStream();
        for (int offset = 0; archive.AsSpan(offset, 512).IndexOfAnyExcept((byte)0) >= 0;)
        {
            byte[] header = archive[offset..(offset + 512)];
            Assert.True(TarHeaderBlock.TryParseNumber(TarHeaderBlock.FileSize.Of(header.AsSpan()), out long size));
            byte[] data = archive[(offset + 512)..(offset + 512 + (int)size)];
            offset += 512 + (int)size + TarHeaderBlock.PaddingAfter(size);

            if (header[TarHeaderBlock.TypeFlag] == (byte)'x')
            {
                var records = new List<KeyValuePair<string, byte[]>>();
                Assert.Null(PaxRecords.TryParse(data, records));
                var rewritten = new ArrayBufferWriter<byte>();
                foreach (var (key, value) in records) PaxRecords.Append(rewritten, key, key == "path" ? WithoutPid(value) : value);
                data = rewritten.WrittenSpan.ToArray();
                TarHeaderBlock.WriteOctal(header, TarHeaderBlock.FileSize, data.Length);
            }
            byte[] name = WithoutPid(TarHeaderBlock.Text(header, TarHeaderBlock.Name).ToArray());
            TarHeaderBlock.Name.Of(header.AsSpan()).Clear();
            TarHeaderBlock.WriteText(header, TarHeaderBlock.Name, name);
            TarHeaderBlock.SetChecksum(header);

            output.Write(header);
            output.Write(data);
            output.Write(new byte[TarHeaderBlock.PaddingAfter(data.Length)]);
        }
        output.Write(new byte[1024]);
        return output.ToArray();
    }

    private static byte[] WithoutPid(byte[] name) =>
        Encoding.Latin1.GetBytes(Regex.Replace(Encoding.Latin1.GetString(name), @"/GNUSparseFile\.[0-9]+/", "/GNUSparseFile.0/"));
}
