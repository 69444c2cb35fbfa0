using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Tests.Archive;
using Xunit;

namespace LayerTools.Tests.Apply;

/// <summary>A tree archived by GNU tar and applied to an empty directory must come back exactly, file capabilities, holes and times included.</summary>
public sealed class ApplyRoundTripTests
{
    [Fact]
    public void EveryFileTypeAndAttributeSurvivesGnuTarAndApply()
    {
        using var temp = new TempDirectory();
        string source = temp.Combine("src");
        FixtureTree.Build(source, FixtureTree.NetBindServiceCapability());
        RemoveSocket(source);
        // Before tar runs: reading a file moves its atime (relatime), but tar records it as it was.
        TreeSnapshot expected = TreeSnapshot.Take(source);

        string archive = temp.Combine("x.tar");
        ExternalTool.Run("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--format=posix", "-S", "-C", source, "-cf", archive, ".");
        string target = temp.Combine("dst");
        Directory.CreateDirectory(target);
        var paths = new List<string>();
        ApplyResult result;
        using (var reader = new TarReader(File.OpenRead(archive)))
            result = ChangesetApplier.Apply(reader, target, null, (_, path) => paths.Add(path));

        TreeSnapshot got = TreeSnapshot.Take(target);
        // Directory atimes moved when the snapshot and tar listed them; every other kind's atime must match.
        Assert.Empty(got.DifferencesFrom(expected, FileKind.Regular, FileKind.Symlink, FileKind.Fifo, FileKind.CharDevice, FileKind.BlockDevice));
        Assert.True(got.Entries["/sparse.img"].Sparse, "sparse.img was written out in full instead of keeping its holes");
        Assert.True(Fs.Lstat(Path.Join(target, "sparse.img")).Blocks * 512 < 1 << 20, "sparse.img allocates more than its 8 KiB of data");
        Assert.Equal(expected.Entries["/usr/bin/ping"].Xattrs, got.Entries["/usr/bin/ping"].Xattrs);

        Assert.Equal(expected.Entries.Count, result.Entries);
        Assert.Equal(paths.Count, result.Entries);
        Assert.Equal("", paths[0]);
        Assert.Equal(new FileInfo(archive).Length, result.ArchiveBytes);
        Assert.Equal(new uint[] { 0, 7, 42, 1000, 1234 }, result.Uids);
        Assert.Equal(new uint[] { 0, 6, 8, 43, 1000, 5678 }, result.Gids);
        Assert.Equal(0, result.Whiteouts);
    }

    /// <summary>Tar cannot store a socket (GNU tar skips it with a warning); the expected tree must not have one either.</summary>
    private static void RemoveSocket(string root)
    {
        string dev = Path.Join(root, "dev");
        FileStatus before = Fs.Lstat(dev);
        Fs.Unlink(Path.Join(dev, "socket"));
        Fs.SetTimes(dev, before.Atime, before.Mtime);
    }
}
