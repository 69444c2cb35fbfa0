using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Tests.Archive;
using Xunit;
using static LayerTools.Tests.Archive.HandMadeArchive;

namespace LayerTools.Tests.Apply;

/// <summary>
/// Archives that try to write outside the tree, or that contradict themselves: each must end in the exact
/// exception type, name the entry at fault, and leave everything next to the root as it was.
/// </summary>
public sealed class ApplyHostileTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _root;
    private readonly string _sentinel;
    private readonly string _outsideFile;
    private readonly TreeSnapshot _sentinelBefore;
    private readonly FileStatus _outsideBefore;

    public ApplyHostileTests()
    {
        _root = _temp.Combine("root");
        Directory.CreateDirectory(_root);
        _sentinel = _temp.Combine("sentinel");
        Directory.CreateDirectory(Path.Join(_sentinel, "dir"));
        File.WriteAllText(Path.Join(_sentinel, "secret"), "outside the tree\n");
        _outsideFile = _temp.Combine("outside-file");
        File.WriteAllText(_outsideFile, "outside the tree\n");
        _sentinelBefore = TreeSnapshot.Take(_sentinel);
        _outsideBefore = Fs.Lstat(_outsideFile);
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>The scratch directory's name, to spell paths that would land in it from above.</summary>
    private string TempName => Path.GetFileName(_temp.Path);

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("/abs/../../escape")]
    [InlineData("./..")]
    public void DotDotInAPathIsRefused(string name)
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().File("ok", "fine\n").File(name, "escaped\n").ToArray(), name);
        Assert.Contains("'..'", refused.Message);
        Assert.Equal(["ok"], Directory.GetFileSystemEntries(_root).Select(Path.GetFileName));
    }

    [Fact]
    public void SymlinkToTheHostRootIsNotFollowed()
    {
        string name = "evil" + _sentinel + "/pwned";
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Symlink("evil", "/").File(name, "escaped\n").ToArray(), name);
        Assert.Contains("'evil' is a symlink", refused.Message);
        Assert.Equal("/", Fs.ReadLink(Path.Join(_root, "evil")));
    }

    [Fact]
    public void SymlinkClimbingUpIsNotFollowed()
    {
        // root/evil -> ../.. is the directory holding the scratch directory.
        string name = $"evil/{TempName}/sentinel/pwned";
        Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Symlink("evil", "../..").File(name, "escaped\n").ToArray(), name);
    }

    [Fact]
    public void SymlinkReplacingADirectoryOfTheSameArchiveIsADuplicate()
    {
        Refuse<ArchiveCorruptException>(new LayerArchive()
            .Directory("d/")
            .File("d/ok", "fine\n")
            .Symlink("d", _sentinel)
            .File("d/f", "escaped\n")
            .ToArray(), "d");
    }

    [Fact]
    public void SymlinkReplacingALowerDirectoryIsNotFollowedByLaterEntries()
    {
        Directory.CreateDirectory(Path.Join(_root, "d"));
        File.WriteAllText(Path.Join(_root, "d/old"), "lower\n");
        // The whiteout makes "d" the current directory first, so the walk for "d/f" must not reuse it.
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive()
            .Whiteout("d/.wh.old")
            .Symlink("d", _sentinel)
            .File("d/f", "escaped\n")
            .ToArray(), "d/f");
        Assert.Contains("'d' is a symlink", refused.Message);
    }

    [Fact]
    public void ReplacingADirectoryThatHoldsEntriesOfTheArchiveIsRefused()
    {
        Refuse<ArchiveCorruptException>(new LayerArchive().File("d/f", "fine\n").Symlink("d", _sentinel).File("d/g", "escaped\n").ToArray(), "d");
    }

    [Fact]
    public void HardlinkToAPathAboveTheRootIsRefused()
    {
        Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Hardlink("x", "../outside-file").ToArray(), "x");
        Assert.False(Path.Exists(Path.Join(_root, "x")));
    }

    [Fact]
    public void HardlinkToAnAbsolutePathResolvesBeneathTheRootOnly()
    {
        FileStatus hostBefore = Fs.Lstat("/etc/passwd");
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Hardlink("x", "/etc/passwd").ToArray(), "x");
        Assert.Contains("does not exist in the tree", refused.Message);
        Assert.False(Path.Exists(Path.Join(_root, "x")));
        Assert.Equal(hostBefore.LinkCount, Fs.Lstat("/etc/passwd").LinkCount);

        // With the tree's own etc/passwd the same entry is fine, and links to that one.
        Directory.CreateDirectory(Path.Join(_root, "etc"));
        File.WriteAllText(Path.Join(_root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        LayerArchive.ApplyTo(_root, new LayerArchive().Hardlink("x", "/etc/passwd").ToArray());
        Assert.Equal(Fs.Lstat(Path.Join(_root, "etc/passwd")).Inode, Fs.Lstat(Path.Join(_root, "x")).Inode);
        Assert.Equal(hostBefore.LinkCount, Fs.Lstat("/etc/passwd").LinkCount);
        AssertNothingOutside();
    }

    [Fact]
    public void HardlinkThroughASymlinkedParentIsRefused()
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Symlink("s", _sentinel).Hardlink("x", "s/secret").ToArray(), "x");
        Assert.Contains("'s' is a symlink", refused.Message);
        Assert.Equal(1u, Fs.Lstat(Path.Join(_sentinel, "secret")).LinkCount);
    }

    [Fact]
    public void HardlinkToADirectoryIsRefused()
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Directory("d/").Hardlink("x", "d").ToArray(), "x");
        Assert.Contains("is a directory", refused.Message);
    }

    [Fact]
    public void NulInANameIsRefusedByTheReader()
    {
        byte[] archive = new HandMadeArchive().Pax(Record("path", "a\0b")).Header("placeholder").End().ToArray();
        var refused = Refuse<ArchiveCorruptException>(archive, entryName: null);
        Assert.Contains("NUL", refused.Message);
    }

    [Fact]
    public void NegativeSizeIsRefusedByTheReader()
    {
        Refuse<ArchiveCorruptException>(new HandMadeArchive().Header("neg", edit: b => Base256(b, 124, 12, -1)).End().ToArray(), "neg");
    }

    [Fact]
    public void HugeSizeIsRefusedByTheReader()
    {
        Refuse<ArchiveCorruptException>(new HandMadeArchive().Header("huge", edit: b => Base256(b, 124, 12, (1L << 62) + 1)).End().ToArray(), "huge");
    }

    [Fact]
    public void StreamEndingInsideAFilesDataIsCorrupt()
    {
        byte[] archive = new HandMadeArchive().Header("partial", size: 100_000).Raw(new byte[3000]).ToArray();
        var refused = Refuse<ArchiveCorruptException>(archive, "partial");
        Assert.Contains("ends 97000 bytes before", refused.Message);
    }

    [Theory]
    [InlineData("a", "a")]
    [InlineData("a", "./a")]
    [InlineData("d/f", "/d//f")]
    public void DuplicatePathIsCorrupt(string first, string second)
    {
        var refused = Refuse<ArchiveCorruptException>(new LayerArchive().File(first, "1\n").File(second, "2\n").ToArray(), second);
        Assert.Contains("duplicate entry", refused.Message);
    }

    [Fact]
    public void FileAfterADirectoryOfTheSameNameIsADuplicate()
    {
        Refuse<ArchiveCorruptException>(new LayerArchive().Directory("d/").File("d", "file\n").ToArray(), "d");
    }

    [Theory]
    [InlineData("a/.wh..")]
    [InlineData(".wh...")]
    [InlineData(".wh.")]
    public void WhiteoutNamingNoFileIsRefused(string name)
    {
        Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Whiteout(name).ToArray(), name);
    }

    [Theory]
    [InlineData("s/.wh.secret")]
    [InlineData("s/.wh..wh..opq")]
    public void WhiteoutThroughASymlinkIsRefused(string name)
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Symlink("s", _sentinel).Whiteout(name).ToArray(), name);
        Assert.Contains("'s' is a symlink", refused.Message);
    }

    [Fact]
    public void WhiteoutOfADirectoryRemovesItsSymlinksNotWhatTheyPointAt()
    {
        string lowerDirectory = Path.Join(_root, "d");
        Directory.CreateDirectory(Path.Join(lowerDirectory, "sub"));
        Fs.Symlink(_sentinel, Path.Join(lowerDirectory, "to-sentinel"));
        Fs.Symlink(Path.Join(_sentinel, "secret"), Path.Join(lowerDirectory, "sub/to-secret"));
        Fs.Symlink("/", Path.Join(lowerDirectory, "sub/to-host-root"));

        ApplyResult result = LayerArchive.ApplyTo(_root, new LayerArchive().Whiteout(".wh.d").ToArray());

        Assert.False(Path.Exists(lowerDirectory));
        Assert.Equal(1, result.Whiteouts);
        AssertNothingOutside();
    }

    [Fact]
    public void UnknownWhiteoutIsRefused()
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Whiteout(".wh..wh.plnk").ToArray(), ".wh..wh.plnk");
        Assert.Contains("not a known whiteout", refused.Message);
    }

    [Fact]
    public void WhiteoutNameAsADirectoryIsRefused()
    {
        Refuse<ArchiveUnsafeEntryException>(new LayerArchive().File(".wh.x/y", "hidden\n").ToArray(), ".wh.x/y");
    }

    [Fact]
    public void WhiteoutOfAnEntryOfTheSameArchiveIsCorrupt()
    {
        Refuse<ArchiveCorruptException>(new LayerArchive().File("x", "mine\n").Whiteout(".wh.x").ToArray(), ".wh.x");
        Assert.True(File.Exists(Path.Join(_root, "x")));
    }

    [Fact]
    public void DeviceWithDataIsCorrupt()
    {
        byte[] archive = new HandMadeArchive().Header("dev/null", type: '3', size: 512).Data(new byte[512]).End().ToArray();
        var refused = Refuse<ArchiveCorruptException>(archive, "dev/null");
        Assert.Contains("cannot carry data", refused.Message);
        Assert.False(Path.Exists(Path.Join(_root, "dev")));
    }

    [Fact]
    public void SymlinkWithDataIsCorrupt()
    {
        byte[] archive = new HandMadeArchive()
            .Header("l", type: '2', size: 5, edit: b => Text(b, 157, "target"))
            .Data("hello"u8.ToArray()).End().ToArray();
        Refuse<ArchiveCorruptException>(archive, "l");
    }

    [Fact]
    public void WhiteoutWithDataIsCorrupt()
    {
        Refuse<ArchiveCorruptException>(new LayerArchive().File(".wh.x", "data\n").ToArray(), ".wh.x");
    }

    [Fact]
    public void SymlinkWhoseParentIsASymlinkIsRefused()
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().Symlink("s", _sentinel).Symlink("s/link", "/etc").ToArray(), "s/link");
        Assert.Contains("'s' is a symlink", refused.Message);
    }

    [Fact]
    public void PathThroughARegularFileIsRefused()
    {
        var refused = Refuse<ArchiveUnsafeEntryException>(new LayerArchive().File("f", "plain\n").File("f/x", "under a file\n").ToArray(), "f/x");
        Assert.Contains("'f' is a regular file", refused.Message);
    }

    [Fact]
    public void RootAsARegularFileIsRefused()
    {
        Refuse<ArchiveUnsafeEntryException>(new LayerArchive().File("./", "not a directory\n").ToArray(), "./");
    }

    /// <summary>Applies the archive, expects exactly <typeparamref name="T"/> naming the entry, and checks that nothing outside the root changed.</summary>
    private T Refuse<T>(byte[] archive, string? entryName) where T : Exception
    {
        var refused = Assert.Throws<T>(() => LayerArchive.ApplyTo(_root, archive));
        if (entryName is not null) Assert.Contains($"'{entryName}'", refused.Message);
        if (refused is ArchiveUnsafeEntryException unsafeEntry) Assert.Equal(entryName, unsafeEntry.EntryName);
        AssertNothingOutside();
        return refused;
    }

    private void AssertNothingOutside()
    {
        Assert.Equal(["outside-file", "root", "sentinel"], Directory.GetFileSystemEntries(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        // Listing a directory may move its atime; file atimes must not move.
        Assert.Empty(TreeSnapshot.Take(_sentinel).DifferencesFrom(_sentinelBefore, FileKind.Regular));
        FileStatus outside = Fs.Lstat(_outsideFile);
        Assert.Equal((_outsideBefore.LinkCount, _outsideBefore.Mtime, _outsideBefore.Size), (outside.LinkCount, outside.Mtime, outside.Size));
        Assert.False(Path.Exists(Path.Join(Path.GetDirectoryName(_temp.Path), "escape")));
    }
}
