using System.Text;
using LayerTools.Native;
using LayerTools.Tests.Archive;

namespace LayerTools.Tests.TarSplit;

/// <summary>
/// A tree with every kind of entry a layer tarball holds, big incompressible files among them, and
/// archives of it made by GNU tar in each format the exact re-export must reproduce. A class fixture.
/// </summary>
public sealed class TarSplitSourceTree : IDisposable
{
    /// <summary>The archives: format, sparse encoding, blocking and what follows the end marker.</summary>
    public static readonly string[] Variants =
    [
        "gnu", "posix", "ustar", "gnu-dot", "gnu-unblocked", "gnu-trailing",
        "sparse-gnu", "sparse-0.0", "sparse-0.1", "sparse-1.0",
    ];

    /// <summary>A file big enough that its data dwarfs the headers; random, so it does not compress.</summary>
    public const string BigFile = "tree/big.bin";

    public const int BigFileSize = 3 << 20;

    private readonly TempDirectory _directory = new();
    private readonly Dictionary<string, string> _archives = new();
    private int _stamp;

    public TarSplitSourceTree()
    {
        BuildTree();
        BuildLong();
        BuildSparse();
    }

    public string Root => _directory.Combine("src");

    public string Scratch(string name) => _directory.Combine(name);

    /// <summary>The archive of one of <see cref="Variants"/>, made once.</summary>
    public string Archive(string variant)
    {
        lock (_archives)
        {
            if (_archives.TryGetValue(variant, out string? existing)) return existing;
            string path = Scratch(variant + ".tar");
            string[] arguments = variant switch
            {
                "gnu" => ["--format=gnu", "tree", "long"],
                "posix" => ["--format=posix", "--xattrs", "--xattrs-include=*", "tree", "long"],
                "ustar" => ["--format=ustar", "tree"],
                // Names start with "./", and the root itself is an entry.
                "gnu-dot" => ["--format=gnu", "."],
                // One block per record: no padding to GNU tar's 10240-byte records after the end marker.
                "gnu-unblocked" => ["--format=gnu", "--blocking-factor=1", "tree"],
                "gnu-trailing" => ["--format=gnu", "tree"],
                "sparse-gnu" => ["--format=gnu", "-S", "sparse"],
                _ when variant.StartsWith("sparse-", StringComparison.Ordinal) =>
                    ["--format=posix", $"--sparse-version={variant["sparse-".Length..]}", "-S", "sparse"],
                _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "no such archive"),
            };
            ExternalTool.Run("tar", ["--sort=name", "-C", Root, "-cf", path, .. arguments]);
            if (variant == "gnu-trailing")
            {
                using var file = new FileStream(path, FileMode.Append);
                file.Write(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("not part of the archive ", 200))));
            }
            _archives[variant] = path;
            return path;
        }
    }

    private void BuildTree()
    {
        Mkdir("tree", "755");
        WriteBytes(BigFile, RandomBytes(BigFileSize, seed: 1), "644");
        WriteBytes("tree/medium.bin", RandomBytes(700_001, seed: 2), "600");
        // Sizes on and around the block boundary, where padding is none, all or one byte short of a block.
        WriteBytes("tree/block512", RandomBytes(512, seed: 3), "644");
        WriteBytes("tree/block513", RandomBytes(513, seed: 4), "644");
        WriteBytes("tree/record10240", RandomBytes(10240, seed: 5), "644");
        Write("tree/text.txt", "hello, layer\n", "644");
        Xattrs.Set(P("tree/text.txt"), "user.note", Encoding.UTF8.GetBytes("kept in PAX"));
        Write("tree/empty", "", "600");
        Write("tree/.wh.removed", "", "644");
        Write("tree/run.sh", "#!/bin/sh\necho hi\n", "4755");
        Write("tree/hard1", "one inode, two names\n", "640");
        Fs.Link(P("tree/hard1"), P("tree/hard2"));
        Fs.Symlink("text.txt", P("tree/symlink"));
        Fs.Symlink("/nowhere/at/all", P("tree/dangling"));
        Fs.Mknod(P("tree/fifo"), FileKind.Fifo, Octal("644"), 0, 0);
        Fs.Mknod(P("tree/null"), FileKind.CharDevice, Octal("666"), 1, 3);
        Fs.Mknod(P("tree/loop7"), FileKind.BlockDevice, Octal("660"), 7, 7);
        Mkdir("tree/sub", "750");
        Mkdir("tree/sub/dir", "755");
        Write("tree/sub/dir/nested.txt", "nested\n", "444");
        Write("tree/sub/ünïcødé.txt", "utf-8 names\n", "644");
        foreach (string path in new[]
                 {
                     BigFile, "tree/medium.bin", "tree/block512", "tree/block513", "tree/record10240", "tree/text.txt",
                     "tree/empty", "tree/.wh.removed", "tree/run.sh", "tree/hard1", "tree/symlink", "tree/dangling",
                     "tree/fifo", "tree/null", "tree/loop7", "tree/sub/dir/nested.txt", "tree/sub/ünïcødé.txt",
                     "tree/sub/dir", "tree/sub", "tree",
                 })
            Times(path);
    }

    /// <summary>Names past 255 bytes and a link target past 100: GNU 'L'/'K' blocks or PAX records.</summary>
    private void BuildLong()
    {
        string directory = "long/" + new string('d', 120) + "/" + new string('e', 120);
        Mkdir("long", "755");
        Mkdir("long/" + new string('d', 120), "755");
        Mkdir(directory, "755");
        WriteBytes(directory + "/" + new string('f', 90) + ".bin", RandomBytes(70_000, seed: 6), "644");
        Fs.Symlink("/" + new string('t', 150), P("long/far-link"));
        Times(directory + "/" + new string('f', 90) + ".bin");
        Times(directory);
        Times("long");
    }

    private void BuildSparse()
    {
        Mkdir("sparse", "755");
        MakeSparse("sparse/holes.img", 2_000_000, [(0, 8192), (600_000, 8192), (1_200_000, 20_000)]);
        MakeSparse("sparse/ends-in-data.img", 1_000_000, [(500_000, 4096), (1_000_000 - 4096, 4096)]);
        MakeSparse("sparse/all-hole.img", 1_000_000, []);
        Times("sparse/holes.img");
        Times("sparse/ends-in-data.img");
        Times("sparse/all-hole.img");
        Times("sparse");
    }

    private void MakeSparse(string relative, long size, (long Offset, int Length)[] regions)
    {
        using var handle = File.OpenHandle(P(relative), FileMode.CreateNew, FileAccess.Write);
        int seed = 10;
        foreach (var (offset, length) in regions) RandomAccess.Write(handle, RandomBytes(length, seed++), offset);
        RandomAccess.SetLength(handle, size);
    }

    private static byte[] RandomBytes(int count, int seed)
    {
        byte[] bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private string P(string relative) => Path.Join(Root, relative);

    private void Mkdir(string relative, string mode)
    {
        Directory.CreateDirectory(P(relative));
        Fs.Chmod(P(relative), Octal(mode));
    }

    private void Write(string relative, string content, string mode) => WriteBytes(relative, Encoding.UTF8.GetBytes(content), mode);

    private void WriteBytes(string relative, byte[] content, string mode)
    {
        File.WriteAllBytes(P(relative), content);
        Fs.Chmod(P(relative), Octal(mode));
    }

    /// <summary>Distinct times with nanoseconds, which only the PAX archive keeps to the nanosecond.</summary>
    private void Times(string relative)
    {
        _stamp++;
        var time = new Timestamp(1_650_000_000 + _stamp * 977, 123_000_000u + (uint)_stamp * 7_654_321);
        Fs.SetTimes(P(relative), time, time);
    }

    private static uint Octal(string digits) => Convert.ToUInt32(digits, 8);

    public void Dispose() => _directory.Dispose();
}
