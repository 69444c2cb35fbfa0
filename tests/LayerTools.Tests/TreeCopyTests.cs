using System.Buffers.Binary;
using System.Text;
using LayerTools.Drivers.Vfs;
using LayerTools.Native;
using Xunit;

using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests;

public sealed class TreeCopyTests
{
    private static readonly FileKind[] NonDirectories =
        [FileKind.Regular, FileKind.Symlink, FileKind.Fifo, FileKind.Socket, FileKind.CharDevice, FileKind.BlockDevice];

    // Old enough that relatime would move it on any read.

    [Fact]
    public void Copy_keeps_every_file_type_owner_mode_xattr_time_and_hardlink()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        string target = temp.Combine("target");
        byte[] capability = FixtureTree.NetBindServiceCapability();
        FixtureTree.Build(source, capability);
        AssertReadsWouldMoveAtimes(temp.Combine("probe"));

        TreeSnapshot before = TreeSnapshot.Take(source);
        TreeCopy.Copy(source, target, progress: null);
        TreeSnapshot copy = TreeSnapshot.Take(target);
        TreeSnapshot after = TreeSnapshot.Take(source);

        Assert.Empty(copy.DifferencesFrom(before, NonDirectories));
        Assert.Empty(after.DifferencesFrom(before, NonDirectories));

        // The snapshot comparison above is only as good as the snapshot; pin the hard cases directly too.
        Assert.Equal(before.Entries.Keys, copy.Entries.Keys);
        Assert.Equal(Octal("751"), Fs.Lstat(target).Permissions);
        Assert.Equal("root"u8.ToArray(), Xattrs.Get(target, "user.layer"));
        Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(target, "a"), "trusted.overlay.opaque"));

        FileStatus su = Fs.Lstat(Path.Join(target, "usr/bin/su"));
        Assert.Equal((Octal("4755"), 1234u, 5678u), (su.Permissions, su.Uid, su.Gid));
        Assert.Equal(capability, Xattrs.Get(Path.Join(target, "usr/bin/ping"), "security.capability"));
        Assert.Equal(new byte[] { 0, 1, 0, 0xFF, 0 }, Xattrs.Get(Path.Join(target, "hello.txt"), "user.blob"));
        Assert.Equal(Octal("1777"), Fs.Lstat(Path.Join(target, "tmp")).Permissions);
        Assert.Equal(Octal("2775"), Fs.Lstat(Path.Join(target, "shared")).Permissions);
        Assert.Equal(Octal("700"), Fs.Lstat(Path.Join(target, "private")).Permissions);

        FileStatus nullDevice = Fs.Lstat(Path.Join(target, "dev/null"));
        Assert.Equal((FileKind.CharDevice, 1u, 3u), (nullDevice.Kind, nullDevice.RdevMajor, nullDevice.RdevMinor));
        FileStatus loop = Fs.Lstat(Path.Join(target, "dev/loop0"));
        Assert.Equal((FileKind.BlockDevice, 7u, 0u), (loop.Kind, loop.RdevMajor, loop.RdevMinor));
        Assert.Equal(FileKind.Socket, Fs.Lstat(Path.Join(target, "dev/socket")).Kind);
        Assert.Equal(FileKind.Fifo, Fs.Lstat(Path.Join(target, "dev/fifo")).Kind);

        FileStatus dangling = Fs.Lstat(Path.Join(target, "dangling"));
        Assert.Equal((FileKind.Symlink, 7u, 8u), (dangling.Kind, dangling.Uid, dangling.Gid));
        Assert.Equal((In2100, In1970), (dangling.Atime, dangling.Mtime));
        Assert.Equal("/nonexistent/target", Fs.ReadLink(Path.Join(target, "dangling")));
        Assert.Equal(In1970, Fs.Lstat(Path.Join(target, "times/epoch.txt")).Mtime);
        Assert.Equal(In2100, Fs.Lstat(Path.Join(target, "times/future.txt")).Mtime);
        Assert.Equal(In1970, Fs.Lstat(Path.Join(target, "private")).Mtime);

        FileStatus h1 = Fs.Lstat(Path.Join(target, "links1/h1"));
        FileStatus h2 = Fs.Lstat(Path.Join(target, "links1/h2"));
        FileStatus h3 = Fs.Lstat(Path.Join(target, "links2/h3"));
        Assert.Equal(3u, h1.LinkCount);
        Assert.Equal(h1.Inode, h2.Inode);
        Assert.Equal(h1.Inode, h3.Inode);
        Assert.Equal("/links1/h1", copy.Entries["/links2/h3"].HardlinkGroup);

        Assert.True(before.Entries["/sparse.img"].Sparse, "the source file should have been sparse to begin with");
        Assert.True(copy.Entries["/sparse.img"].Sparse, "the copy of a sparse file is no longer sparse");
        Assert.Equal(64L << 20, copy.Entries["/sparse.img"].Size);
    }

    [Fact]
    public void Snapshot_comparison_reports_each_changed_field()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Join(source, "file"), "content");
        TreeSnapshot before = TreeSnapshot.Take(source);

        Fs.Chmod(Path.Join(source, "file"), Octal("600"));
        Fs.SetTimes(Path.Join(source, "file"), OldAtime, new Timestamp(In1970.Seconds, In1970.Nanoseconds + 1));
        Xattrs.Set(Path.Join(source, "file"), "user.extra", [0]);
        File.WriteAllText(Path.Join(source, "new"), "");

        IReadOnlyList<string> differences = TreeSnapshot.Take(source).DifferencesFrom(before);

        Assert.Contains(differences, d => d.StartsWith("/file: permissions expected 644 got 600"));
        Assert.Contains(differences, d => d.StartsWith("/file: mtime") && d.EndsWith($"got {In1970.Seconds}.123456790"));
        Assert.Contains(differences, d => d.StartsWith("/file: xattrs"));
        Assert.Contains("/new: unexpected Regular", differences);
        Assert.Contains(differences, d => d.StartsWith("/: mtime"));
    }

    [Fact]
    public void Copy_of_a_large_tree_reports_progress_and_equals_the_source()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        string target = temp.Combine("target");
        Directory.CreateDirectory(source);
        for (int d = 0; d < 40; d++)
        {
            string directory = Path.Join(source, $"dir{d:D2}", "inner");
            Directory.CreateDirectory(directory);
            for (int f = 0; f < 50; f++)
                File.WriteAllText(Path.Join(directory, $"file{f:D2}"), $"file {d}/{f}\n");
        }
        var reports = new List<WorkProgress>();

        TreeCopy.Copy(source, target, reports.Add);

        Assert.Empty(TreeSnapshot.Take(target).DifferencesFrom(TreeSnapshot.Take(source)));
        Assert.NotEmpty(reports);
        // 2,000 files and 80 directories: at most one report per hundred entries, so the host is not flooded;
        // files are copied in parallel and looked at every 10 ms, so a fast copy reports less often.
        Assert.InRange(reports.Count, 1, 21);
        Assert.All(reports, r => Assert.Equal("Copying layer", r.Activity));
        Assert.All(reports, r => Assert.True(Fs.TryLstat(Path.Join(target, r.Status), out _), $"'{r.Status}' is not a path in the copy"));
        Assert.Equal(reports.Select(r => r.Done).Order(), reports.Select(r => r.Done));
        Assert.True(reports[^1].Done <= 2080);
    }

    [Fact]
    public void Copy_of_a_very_deep_tree_does_not_overflow_the_stack()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        string target = temp.Combine("target");
        // One-letter names keep 2,000 levels just under PATH_MAX for the path-based system calls.
        string bottom = source;
        Fs.Mkdir(source, Octal("755"));
        for (int i = 0; i < 2000; i++)
        {
            bottom += "/d";
            Fs.Mkdir(bottom, Octal("755"));
        }
        File.WriteAllText(bottom + "/f", "at the bottom");

        TreeCopy.Copy(source, target, progress: null);

        Assert.Empty(TreeSnapshot.Take(target).DifferencesFrom(TreeSnapshot.Take(source)));
        Assert.Equal("at the bottom", File.ReadAllText(target + bottom[source.Length..] + "/f"));
    }

    [Fact]
    public void Copy_into_a_setgid_directory_keeps_owners_groups_and_modes_the_umask_would_strip()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        string shared = temp.Combine("shared");
        string target = Path.Join(shared, "target");
        Fs.Mkdir(source, Octal("755"));
        Fs.Mkdir(Path.Join(source, "dir"), Octal("755"));
        (string Name, string Mode, uint Uid, uint Gid)[] files =
            [("open", "777", 0, 0), ("group-writable", "664", 0, 0), ("none", "000", 0, 0), ("other", "640", 1234, 5678), ("dir/deep", "777", 0, 0)];
        foreach (var (name, mode, uid, gid) in files)
        {
            File.WriteAllText(Path.Join(source, name), name);
            Fs.Lchown(Path.Join(source, name), uid, gid);
            Fs.Chmod(Path.Join(source, name), Octal(mode));
        }
        // New nodes in a setgid directory take its group, and new directories its setgid bit.
        Fs.Mkdir(shared, Octal("755"));
        Fs.Lchown(shared, 0, 4321);
        Fs.Chmod(shared, Octal("2775"));

        TreeCopy.Copy(source, target, progress: null);

        Assert.Empty(TreeSnapshot.Take(target).DifferencesFrom(TreeSnapshot.Take(source)));
        foreach (var (name, mode, uid, gid) in files)
        {
            FileStatus copied = Fs.Lstat(Path.Join(target, name));
            Assert.Equal((Octal(mode), uid, gid), (copied.Permissions, copied.Uid, copied.Gid));
        }
        FileStatus root = Fs.Lstat(target);
        Assert.Equal((Octal("755"), 0u, 0u), (root.Permissions, root.Uid, root.Gid));
    }

    [Fact]
    public void A_file_that_cannot_be_copied_fails_the_copy_with_its_own_error()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        for (int d = 0; d < 20; d++)
        {
            string directory = Path.Join(source, $"dir{d:D2}");
            Directory.CreateDirectory(directory);
            for (int f = 0; f < 20; f++) File.WriteAllText(Path.Join(directory, $"file{f:D2}"), "content");
        }
        string labelled = Path.Join(source, "dir07", "file13");
        Xattrs.Set(labelled, "user.label", [1]);
        // ramfs keeps no extended attributes, so setting the label on the copy fails, on some worker thread.
        using var ramfs = new RamfsMount(temp.Combine("ramfs"));
        string target = Path.Join(ramfs.Path, "target");

        var error = Assert.Throws<NativeException>(() => TreeCopy.Copy(source, target, progress: null));

        Assert.Equal(Errno.EOPNOTSUPP, error.Errno);
        Assert.Equal(Path.Join(target, "dir07", "file13") + " [user.label]", error.Path);
    }

    [Fact]
    public void Copy_refuses_a_target_that_exists()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("source");
        string target = temp.Combine("target");
        Directory.CreateDirectory(source);
        Directory.CreateDirectory(target);

        var error = Assert.Throws<NativeException>(() => TreeCopy.Copy(source, target, progress: null));

        Assert.Equal(Errno.EEXIST, error.Errno);
        Assert.Equal(target, error.Path);
    }

    /// <summary>Without this, a clean "atimes unchanged" result could mean the mount never updates atimes.</summary>
    private static void AssertReadsWouldMoveAtimes(string probe)
    {
        File.WriteAllText(probe, "probe");
        Fs.SetTimes(probe, OldAtime, OldAtime);
        File.ReadAllBytes(probe);
        Assert.NotEqual(OldAtime, Fs.Lstat(probe).Atime);
    }

}
