using System.Text;
using LayerTools.Native;

namespace LayerTools.Tests.Archive;

/// <summary>
/// A tree on disk holding what a root filesystem layer can contain, grouped by what each tar format can
/// store, plus archives of it made by GNU tar. Shared by the reader tests as a class fixture.
/// </summary>
public sealed class ArchiveSourceTree : IDisposable
{
    /// <summary>Binary values with NUL and 0xFF, an empty value, and a capability blob.</summary>
    public static readonly KeyValuePair<string, byte[]>[] FileXattrs =
    [
        new("user.blob", [0, 1, 0, 0xFF, 0, 0xC3]),
        new("user.empty", []),
        new("user.text", Encoding.UTF8.GetBytes("ünïcødé = value\n")),
    ];

    /// <summary>A directory whose name alone passes ustar's 100-byte name field and cannot be split.</summary>
    public static readonly string LongDirectory = "tree/long/" + new string('a', 100);

    private readonly TempDirectory _directory = new();
    private readonly Dictionary<string, string> _archives = new();
    private int _stamp;

    public ArchiveSourceTree()
    {
        Directory.CreateDirectory(Path.Join(Root, "tree"));
        BuildCore();
        BuildSpecial();
        BuildSplit();
        BuildLong();
        BuildOwners();
        BuildSparse();
    }

    /// <summary>The directory GNU tar runs in; entry names are relative to it ("tree/core/...").</summary>
    public string Root => _directory.Combine("src");

    public string Scratch(string name) => _directory.Combine(name);

    /// <summary>The groups of the tree each format can hold (GNU tar refuses the others).</summary>
    public static string[] GroupsFor(string format) => format switch
    {
        "v7" => ["tree/core"],
        "ustar" => ["tree/core", "tree/special", "tree/split"],
        _ => ["tree/core", "tree/special", "tree/split", "tree/long", "tree/owners"],
    };

    /// <summary>An archive of the format's groups made by GNU tar; posix also stores every xattr.</summary>
    public string Archive(string format)
    {
        lock (_archives)
        {
            if (_archives.TryGetValue(format, out string? existing)) return existing;
            string path = Scratch($"gnu-{format}.tar");
            var arguments = new List<string> { $"--format={format}", "--sort=name", "-C", Root, "-cf", path };
            if (format == "posix") arguments.InsertRange(0, ["--xattrs", "--xattrs-include=*"]);
            arguments.AddRange(GroupsFor(format));
            ExternalTool.Run("tar", [.. arguments]);
            _archives[format] = path;
            return path;
        }
    }

    /// <summary>An archive of the sparse group with -S: old-GNU 'S' entries for "gnu", else PAX with the given sparse version.</summary>
    public string SparseArchive(string sparseVersion)
    {
        lock (_archives)
        {
            string key = "sparse-" + sparseVersion;
            if (_archives.TryGetValue(key, out string? existing)) return existing;
            string path = Scratch($"gnu-{key}.tar");
            string[] format = sparseVersion == "gnu" ? ["--format=gnu"] : ["--format=posix", $"--sparse-version={sparseVersion}"];
            ExternalTool.Run("tar", [.. format, "-S", "--sort=name", "-C", Root, "-cf", path, "tree/sparse"]);
            _archives[key] = path;
            return path;
        }
    }

    /// <summary>Every path under the groups, directories included, as GNU tar names them (without trailing '/').</summary>
    public List<string> PathsUnder(IEnumerable<string> groups)
    {
        var paths = new List<string>();
        foreach (string group in groups)
        {
            paths.Add(group);
            foreach (string path in Directory.EnumerateFileSystemEntries(Path.Join(Root, group), "*", SearchOption.AllDirectories))
                paths.Add(Path.GetRelativePath(Root, path));
        }
        return paths;
    }

    /// <summary>The data regions written into tree/sparse/holes.img: (offset, byte length); everything else is a hole.</summary>
    public static readonly (long Offset, int Length)[] SparseRegions =
        [(0, 5000), (100_000, 5000), (200_000, 9000), (300_000, 5000), (400_000, 5000), (500_000, 5000), (600_000, 5000)];

    public const long SparseSize = 1_000_000;

    private void BuildCore()
    {
        Mkdir("tree/core", "755");
        Write("tree/core/file.txt", "hello, layer\n", "644");
        foreach (var (name, value) in FileXattrs) Xattrs.Set(P("tree/core/file.txt"), name, value);
        Write("tree/core/empty", "", "600");
        Write("tree/core/setuid", "#!/bin/sh\n", "755");
        Fs.Lchown(P("tree/core/setuid"), 1234, 5678);
        // chown clears setuid and file capabilities, so both come after it.
        Fs.Chmod(P("tree/core/setuid"), Octal("4755"));
        Xattrs.Set(P("tree/core/setuid"), "security.capability", FixtureTree.NetBindServiceCapability());
        Write("tree/core/ünïcødé.txt", "utf-8 names survive\n", "644");
        Mkdir("tree/core/日本", "750");
        Write("tree/core/日本/nested.txt", "nested\n", "444");
        Mkdir("tree/core/sticky", "755");
        Fs.Chmod(P("tree/core/sticky"), Octal("1777"));
        Write("tree/core/hard1", "one inode, two names\n", "640");
        Fs.Link(P("tree/core/hard1"), P("tree/core/hard2"));
        Fs.Symlink("file.txt", P("tree/core/symlink"));
        Fs.Lchown(P("tree/core/symlink"), 42, 43);
        File.WriteAllBytes(P("tree/core/binary"), Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray());
        foreach (string leaf in new[] { "file.txt", "empty", "setuid", "ünïcødé.txt", "日本/nested.txt", "hard1", "symlink", "binary" })
            Times("tree/core/" + leaf);
        Times("tree/core/日本");
        Times("tree/core/sticky");
        Times("tree/core");
    }

    private void BuildSpecial()
    {
        Mkdir("tree/special", "755");
        Fs.Mknod(P("tree/special/fifo"), FileKind.Fifo, Octal("620"), 0, 0);
        Fs.Mknod(P("tree/special/null"), FileKind.CharDevice, Octal("666"), 1, 3);
        Fs.Mknod(P("tree/special/loop7"), FileKind.BlockDevice, Octal("660"), 7, 7);
        Fs.Mknod(P("tree/special/big-minor"), FileKind.CharDevice, Octal("600"), 4095, 1_000_000);
        foreach (string leaf in new[] { "fifo", "null", "loop7", "big-minor" }) Times("tree/special/" + leaf);
        Times("tree/special");
    }

    /// <summary>A 156-byte path that fits ustar only split into prefix and name.</summary>
    private void BuildSplit()
    {
        string directory = "tree/split/" + new string('p', 50);
        Mkdir("tree/split", "755");
        Mkdir(directory, "755");
        Write(directory + "/" + new string('q', 90) + ".txt", "split into prefix and name\n", "644");
        Times(directory + "/" + new string('q', 90) + ".txt");
        Times(directory);
        Times("tree/split");
    }

    /// <summary>Names past 255 bytes and a symlink target past 100: GNU 'L'/'K' records or PAX path/linkpath.</summary>
    private void BuildLong()
    {
        string b = LongDirectory + "/" + new string('b', 100);
        string file = b + "/" + new string('c', 100) + ".txt";
        Mkdir("tree/long", "755");
        Mkdir(LongDirectory, "755");
        Mkdir(b, "755");
        Write(file, "deep and long\n", "644");
        Fs.Symlink("/" + new string('t', 150), P("tree/long/far-link"));
        Times(file);
        Times("tree/long/far-link");
        Times(b);
        Times(LongDirectory);
        Times("tree/long");
    }

    /// <summary>Ids past ustar's 2097151: GNU base-256 or PAX uid/gid.</summary>
    private void BuildOwners()
    {
        Mkdir("tree/owners", "755");
        Write("tree/owners/big", "owned far away\n", "644");
        Fs.Lchown(P("tree/owners/big"), 3_000_000, 3_000_001);
        Times("tree/owners/big");
        Times("tree/owners");
    }

    private void BuildSparse()
    {
        Mkdir("tree/sparse", "755");
        using (var handle = File.OpenHandle(P("tree/sparse/holes.img"), FileMode.CreateNew, FileAccess.Write))
        {
            foreach (var (offset, length) in SparseRegions)
                RandomAccess.Write(handle, Enumerable.Range(0, length).Select(i => (byte)('A' + offset / 100_000 + i % 3)).ToArray(), offset);
            RandomAccess.SetLength(handle, SparseSize);
        }
        Times("tree/sparse/holes.img");
        Times("tree/sparse");
    }

    private string P(string relative) => Path.Join(Root, relative);

    private void Mkdir(string relative, string mode)
    {
        Fs.Mkdir(P(relative), Octal(mode));
        Fs.Chmod(P(relative), Octal(mode));
    }

    private void Write(string relative, string content, string mode)
    {
        File.WriteAllText(P(relative), content);
        Fs.Chmod(P(relative), Octal(mode));
    }

    /// <summary>Gives each path its own mtime with nanoseconds, so mixed-up times cannot pass by luck.</summary>
    private void Times(string relative)
    {
        _stamp++;
        var time = new Timestamp(1_600_000_000 + _stamp * 3_600, 100_000_000u + (uint)_stamp * 1_234_567);
        Fs.SetTimes(P(relative), time, time);
    }

    private static uint Octal(string digits) => Convert.ToUInt32(digits, 8);

    public void Dispose() => _directory.Dispose();
}
