using System.Text;
using LayerTools.Archive;
using LayerTools.Drivers.Vfs;
using LayerTools.Native;
using Xunit;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Apply;

/// <summary>
/// OCI changeset semantics on top of a lower tree: whiteouts, opaque directories, replacements in both
/// directions, hard links into the layer and into the lower tree, merged directories, and directory times
/// that come out as the tree the diff was taken from had them.
/// </summary>
public sealed class ApplyChangesetTests
{
    // Lower atimes lie ahead of every mtime and of now, so relatime never moves them when a copy or a
    // snapshot reads the lower tree: atimes can then be compared for every kind, directories included.
    private static Timestamp LowerAtime(int n) => new(4_102_444_800 + n, (uint)n * 13);
    private static Timestamp LowerMtime(int n) => new(1_400_000_000 + n * 1000, (uint)n * 11);
    private static Timestamp UpperTime(int n) => new(1_700_000_000 + n * 100, (uint)n * 17 + 1);

    private static readonly string[] LowerDirectories =
        ["etc", "olddir", "olddir/sub", "opq", "opq/lowersub", "dir2file", "chmoddir", "untouched", "whparent", "static"];

    private static readonly string[] LowerFiles =
    [
        "etc/passwd", "gone.txt", "olddir/a", "olddir/sub/c", "opq/lower1", "opq/lowersub/x", "dir2file/inner", "file2dir",
        "lowerlink-src", "modify.txt", "chmoddir/keep.txt", "untouched/old.txt", "whparent/w.txt", "whparent/stay.txt", "static/s.txt",
    ];

    [Fact]
    public void ChangesetOnALowerTreeGivesTheUpperTreeExactly()
    {
        using var temp = new TempDirectory();
        string lower = temp.Combine("lower");
        BuildLower(lower);
        string root = temp.Combine("root");
        TreeCopy.Copy(lower, root, null);
        string expected = temp.Combine("expected");
        TreeCopy.Copy(lower, expected, null);
        TreeSnapshot lowerSnapshot = TreeSnapshot.Take(lower);

        var applied = new List<string>();
        ApplyResult result = LayerArchive.ApplyTo(root, MixedChangeset(), (_, path) => applied.Add(path));

        // The same changes made by hand, path by path, to a second copy of the lower tree.
        string E(string relative) => Path.Join(expected, relative);
        void Write(string relative, string content, string mode, uint uid, uint gid, Timestamp mtime, Timestamp? atime = null)
        {
            File.WriteAllText(E(relative), content);
            Fs.Lchown(E(relative), uid, gid);
            Fs.Chmod(E(relative), Octal(mode));
            Fs.SetTimes(E(relative), atime ?? mtime, mtime);
        }
        File.Delete(E("gone.txt"));
        Directory.Delete(E("olddir"), recursive: true);
        File.Delete(E("opq/lower1"));
        Directory.Delete(E("opq/lowersub"), recursive: true);
        Write("opq/new", "new in the opaque directory\n", "644", 0, 0, UpperTime(2));
        Fs.Chmod(E("opq"), Octal("750"));
        Directory.Delete(E("dir2file"), recursive: true);
        Write("dir2file", "was a directory\n", "600", 33, 33, UpperTime(3));
        File.Delete(E("file2dir"));
        Fs.Mkdir(E("file2dir"), Octal("711"));
        Write("file2dir/child", "child\n", "644", 0, 0, UpperTime(5));
        Fs.Mkdir(E("new"), Octal("755"));
        Write("new/h1", "hard-linked\n", "640", 1000, 1000, UpperTime(7));
        Fs.Link(E("new/h1"), E("new/h2"));
        Fs.Link(E("lowerlink-src"), E("new/h3"));
        File.Delete(E("modify.txt"));
        Write("modify.txt", "new content\n", "600", 5, 6, UpperTime(8), UpperTime(9));
        Xattrs.Set(E("modify.txt"), "user.version", "2"u8.ToArray());
        Fs.Chmod(E("chmoddir"), Octal("700"));
        Write("untouched/newfile", "added without an entry for its directory\n", "644", 0, 0, UpperTime(10));
        File.Delete(E("whparent/w.txt"));
        foreach (var (directory, time) in new[] { ("opq", UpperTime(1)), ("file2dir", UpperTime(4)), ("new", UpperTime(6)) })
            Fs.SetTimes(E(directory), time, time);
        // Directories the archive changed without an entry of their own keep the lower tree's times.
        foreach (string directory in new[] { "", "untouched", "whparent" })
        {
            var before = lowerSnapshot.Entries[directory.Length == 0 ? "/" : "/" + directory];
            Fs.SetTimes(E(directory), before.Atime, before.Mtime);
        }

        TreeSnapshot got = TreeSnapshot.Take(root);
        Assert.Empty(got.DifferencesFrom(TreeSnapshot.Take(expected), Enum.GetValues<FileKind>()));

        foreach (string directory in new[] { "/", "/untouched", "/whparent" })
        {
            Assert.Equal(lowerSnapshot.Entries[directory].Mtime, got.Entries[directory].Mtime);
            Assert.Equal(lowerSnapshot.Entries[directory].Atime, got.Entries[directory].Atime);
        }
        Assert.Equal(got.Entries["/lowerlink-src"].Inode, got.Entries["/new/h3"].Inode);
        Assert.Equal(got.Entries["/new/h1"].Inode, got.Entries["/new/h2"].Inode);
        Assert.Equal(
            [".wh.gone.txt", ".wh.olddir", "opq", "opq/.wh..wh..opq", "opq/new", "dir2file", "file2dir", "file2dir/child", "new",
             "new/h1", "new/h2", "new/h3", "modify.txt", "chmoddir", "untouched/newfile", "whparent/.wh.w.txt"],
            applied);
        Assert.Equal(16, result.Entries);
        Assert.Equal(3, result.Whiteouts);
        Assert.Equal(1, result.OpaqueDirectories);
        Assert.Equal(new uint[] { 0, 5, 33, 1000 }, result.Uids);
    }

    /// <summary>Every kind of change on <see cref="BuildLower"/>'s tree: whiteouts, an opaque directory, replacements both ways, hard links, a chmod.</summary>
    internal static byte[] MixedChangeset() => new LayerArchive()
        .Whiteout(".wh.gone.txt")
        .Whiteout(".wh.olddir")
        .Directory("opq/", mode: Octal("750"), mtime: UpperTime(1))
        .Whiteout("opq/.wh..wh..opq")
        .File("opq/new", "new in the opaque directory\n", mtime: UpperTime(2))
        .File("dir2file", "was a directory\n", mode: Octal("600"), uid: 33, gid: 33, mtime: UpperTime(3))
        .Directory("file2dir/", mode: Octal("711"), mtime: UpperTime(4))
        .File("file2dir/child", "child\n", mtime: UpperTime(5))
        .Directory("new/", mtime: UpperTime(6))
        .File("new/h1", "hard-linked\n", mode: Octal("640"), uid: 1000, gid: 1000, mtime: UpperTime(7))
        .Hardlink("new/h2", "new/h1")
        .Hardlink("new/h3", "/lowerlink-src")
        .File("modify.txt", "new content\n", mode: Octal("600"), uid: 5, gid: 6, mtime: UpperTime(8), atime: UpperTime(9),
            xattrs: [new("user.version", "2"u8.ToArray())])
        // As a diff records a chmod: the directory's other attributes as they were.
        .Directory("chmoddir/", mode: Octal("700"), mtime: LowerMtime(7), atime: LowerAtime(7), xattrs: [new("user.kept", "lower"u8.ToArray())])
        .File("untouched/newfile", "added without an entry for its directory\n", mtime: UpperTime(10))
        .Whiteout("whparent/.wh.w.txt")
        .ToArray();

    [Fact]
    public void OpaqueMarkerAfterTheDirectorysChildrenKeepsThem()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(Path.Join(root, "opq/lowersub"));
        File.WriteAllText(Path.Join(root, "opq/lower"), "lower\n");
        File.WriteAllText(Path.Join(root, "opq/lowersub/x"), "lower\n");

        LayerArchive.ApplyTo(root, new LayerArchive()
            .Directory("opq/")
            .File("opq/new", "upper\n")
            .File("opq/implicit/deep", "upper\n")
            .Whiteout("opq/.wh..wh..opq")
            .ToArray());

        Assert.Equal(["deep"], Directory.GetFileSystemEntries(Path.Join(root, "opq/implicit")).Select(Path.GetFileName));
        Assert.Equal(["implicit", "new"], Directory.GetFileSystemEntries(Path.Join(root, "opq")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void OpaqueMarkerHidesTheLowerContentOfDirectoriesTheArchiveKeeps()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(Path.Join(root, "opq/kept/deeper"));
        File.WriteAllText(Path.Join(root, "opq/kept/lower"), "lower\n");
        File.WriteAllText(Path.Join(root, "opq/kept/deeper/lower"), "lower\n");

        LayerArchive.ApplyTo(root, new LayerArchive()
            .Directory("opq/")
            .Directory("opq/kept/")
            .File("opq/kept/new", "upper\n")
            .Directory("opq/kept/deeper/")
            .Whiteout("opq/.wh..wh..opq")
            .ToArray());

        // As containers/storage applies it: nothing below the opaque directory survives unless this archive wrote it.
        Assert.Equal(["deeper", "new"], Directory.GetFileSystemEntries(Path.Join(root, "opq/kept")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Join(root, "opq/kept/deeper")));
    }

    [Fact]
    public void OpaqueMarkerAtTheTopClearsTheLowerRoot()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(Path.Join(root, "lowerdir/sub"));
        File.WriteAllText(Path.Join(root, "lowerfile"), "lower\n");
        Fs.Symlink("/", Path.Join(root, "lowerlink"));

        ApplyResult result = LayerArchive.ApplyTo(root, new LayerArchive()
            .Directory("keep/")
            .File("keep/f", "upper\n")
            .Whiteout(".wh..wh..opq")
            .File("late", "after the marker\n")
            .ToArray());

        Assert.Equal(["keep", "late"], Directory.GetFileSystemEntries(root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("upper\n", File.ReadAllText(Path.Join(root, "keep/f")));
        Assert.Equal(1, result.OpaqueDirectories);
    }

    [Fact]
    public void NamesAreNormalisedAndMissingParentsAreMadeRootOwned0755()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(root);
        var applied = new List<string>();

        LayerArchive.ApplyTo(root, new LayerArchive()
            .File("/abs", "leading slash\n")
            .File("./dot/./x", "dot components\n")
            .File("a//b///c", "repeated slashes\n")
            .Directory("trail//")
            .File("missing/parents/f", "", uid: 7, gid: 7)
            .ToArray(), (_, path) => applied.Add(path));

        Assert.Equal(["abs", "dot/x", "a/b/c", "trail", "missing/parents/f"], applied);
        foreach (string implicitDirectory in new[] { "dot", "a", "a/b", "missing", "missing/parents" })
        {
            FileStatus status = Fs.Lstat(Path.Join(root, implicitDirectory));
            Assert.Equal((FileKind.Directory, Octal("755"), 0u, 0u), (status.Kind, status.Permissions, status.Uid, status.Gid));
        }
        Assert.Equal("repeated slashes\n", File.ReadAllText(Path.Join(root, "a/b/c")));
        Assert.Equal(7u, Fs.Lstat(Path.Join(root, "missing/parents/f")).Uid);
    }

    [Fact]
    public void RootEntryAndRepeatedDirectoryEntriesSetAttributesLastOneWinning()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(root);
        Xattrs.Set(root, "user.lower", "stale"u8.ToArray());

        LayerArchive.ApplyTo(root, new LayerArchive()
            .Directory("./", mode: Octal("750"), uid: 3, gid: 4, mtime: UpperTime(1), xattrs: [new("user.root", "upper"u8.ToArray())])
            .Directory("d/", mode: Octal("755"), mtime: UpperTime(2))
            .File("d/f", "inside\n")
            .Directory("d/", mode: Octal("1770"), uid: 9, mtime: UpperTime(3))
            .ToArray());

        FileStatus rootStatus = Fs.Lstat(root);
        Assert.Equal((Octal("750"), 3u, 4u, UpperTime(1)), (rootStatus.Permissions, rootStatus.Uid, rootStatus.Gid, rootStatus.Mtime));
        // The root merged with what was there: it ends with the entry's attributes only.
        Assert.Equal(["user.root"], Xattrs.List(root));
        FileStatus d = Fs.Lstat(Path.Join(root, "d"));
        Assert.Equal((Octal("1770"), 9u, UpperTime(3)), (d.Permissions, d.Uid, d.Mtime));
        Assert.Equal("inside\n", File.ReadAllText(Path.Join(root, "d/f")));
    }

    [Fact]
    public void WhiteoutThenTheSameNameRecreatesIt()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(Path.Join(root, "x/lower-child"));

        LayerArchive.ApplyTo(root, new LayerArchive()
            .Whiteout(".wh.x")
            .File("x", "now a file\n")
            .Whiteout(".wh.never-existed")
            .ToArray());

        Assert.Equal("now a file\n", File.ReadAllText(Path.Join(root, "x")));
    }

    [Fact]
    public void SymlinksAndNodesAreCreatedVerbatimWithTheirOwnAttributes()
    {
        using var temp = new TempDirectory();
        string root = temp.Combine("root");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Join(root, "fifo"), "a lower file the FIFO replaces\n");

        LayerArchive.ApplyTo(root, new LayerArchive()
            .Symlink("abs", "/etc/passwd", uid: 5, gid: 6, mtime: UpperTime(1))
            .Symlink("up", "../../..", mtime: UpperTime(2))
            .Fifo("fifo", mode: Octal("4640"))
            .ToArray());

        Assert.Equal("/etc/passwd", Fs.ReadLink(Path.Join(root, "abs")));
        FileStatus abs = Fs.Lstat(Path.Join(root, "abs"));
        Assert.Equal((FileKind.Symlink, 5u, 6u, UpperTime(1)), (abs.Kind, abs.Uid, abs.Gid, abs.Mtime));
        Assert.Equal("../../..", Fs.ReadLink(Path.Join(root, "up")));
        FileStatus fifo = Fs.Lstat(Path.Join(root, "fifo"));
        Assert.Equal((FileKind.Fifo, Octal("4640")), (fifo.Kind, fifo.Permissions));
    }

    /// <summary>The lower tree the changeset tests apply to, written into <paramref name="lower"/> (made if missing).</summary>
    internal static void BuildLower(string lower)
    {
        string P(string relative) => Path.Join(lower, relative);
        if (!Directory.Exists(lower)) Fs.Mkdir(lower, Octal("755"));
        Fs.Chmod(lower, Octal("755"));
        foreach (string directory in LowerDirectories) Fs.Mkdir(P(directory), Octal("755"));
        foreach (string file in LowerFiles)
        {
            File.WriteAllText(P(file), $"lower {file}\n");
            Fs.Chmod(P(file), Octal("644"));
        }
        Xattrs.Set(P("chmoddir"), "user.kept", "lower"u8.ToArray());
        int n = 0;
        foreach (string file in LowerFiles)
        {
            n++;
            Fs.SetTimes(P(file), LowerAtime(100 + n), LowerMtime(100 + n));
        }
        // Deepest first, each directory after its last child changed it.
        foreach (string directory in LowerDirectories.OrderByDescending(d => d.Count(c => c == '/')))
        {
            n = Array.IndexOf(LowerDirectories, directory) + 1;
            Fs.SetTimes(P(directory), LowerAtime(n), LowerMtime(n));
        }
        Fs.SetTimes(lower, LowerAtime(0), LowerMtime(0));
    }
}
