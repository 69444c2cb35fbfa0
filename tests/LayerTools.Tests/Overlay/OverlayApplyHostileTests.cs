using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Tests.Apply;
using Xunit;

namespace LayerTools.Tests.Overlay;

/// <summary>
/// Archives applied straight into an overlay diff that try to reach outside it through what the lower
/// layers hold: a lower symlink is never followed, whether an entry, a whiteout or a hard link goes through it.
/// </summary>
public sealed class OverlayApplyHostileTests : IDisposable
{
    private readonly OverlayScratch _scratch = new();
    private readonly string _sentinel;
    private readonly TreeSnapshot _sentinelBefore;
    private readonly string _parent;

    public OverlayApplyHostileTests()
    {
        _sentinel = Path.Combine(_scratch.Location, "sentinel");
        Directory.CreateDirectory(Path.Join(_sentinel, "dir"));
        File.WriteAllText(Path.Join(_sentinel, "secret"), "outside the layers\n");
        _sentinelBefore = TreeSnapshot.Take(_sentinel);

        _parent = OverlayScratch.NewId();
        _scratch.Driver.Create(_parent, null, null);
        string merged = _scratch.Driver.Mount(_parent, readOnly: false);
        try
        {
            Fs.Symlink(_sentinel, Path.Join(merged, "out"));
            Directory.CreateDirectory(Path.Join(merged, "d"));
            Fs.Symlink("../../../../sentinel", Path.Join(merged, "d/up"));
            File.WriteAllText(Path.Join(merged, "f"), "a file\n");
        }
        finally
        {
            _scratch.Driver.Unmount(_parent, lazy: false);
        }
    }

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData("out/pwned")]
    [InlineData("d/up/pwned")]
    [InlineData("out/dir/pwned")]
    public void An_entry_through_a_lower_symlink_is_refused(string name) =>
        Refuse(new LayerArchive().File(name, "escaped\n").ToArray(), name, "is a symlink");

    [Theory]
    [InlineData("out/.wh.secret")]
    [InlineData("out/.wh..wh..opq")]
    [InlineData("d/up/.wh.secret")]
    public void A_whiteout_through_a_lower_symlink_is_refused(string name) =>
        Refuse(new LayerArchive().Whiteout(name).ToArray(), name, "is a symlink");

    [Fact]
    public void An_entry_under_a_lower_file_is_refused() =>
        Refuse(new LayerArchive().File("f/x", "under a file\n").ToArray(), "f/x", "'f' is a regular file");

    [Fact]
    public void A_hard_link_through_a_lower_symlink_is_refused() =>
        Refuse(new LayerArchive().Hardlink("h", "out/secret").ToArray(), "h", "'out' is a symlink");

    [Fact]
    public void A_hard_link_to_a_lower_symlink_links_a_copied_up_symlink_and_follows_nothing()
    {
        string layer = NewChild();
        var (diff, union) = _scratch.Driver.ApplyTarget(layer);

        Apply(new LayerArchive().Hardlink("d/alias", "d/up").ToArray(), diff, union);

        Assert.Equal("../../../../sentinel", Fs.ReadLink(Path.Join(diff, "d/alias")));
        Assert.Equal(Fs.Lstat(Path.Join(diff, "d/up")).Inode, Fs.Lstat(Path.Join(diff, "d/alias")).Inode);
        Assert.Empty(TreeSnapshot.Take(_sentinel).DifferencesFrom(_sentinelBefore, FileKind.Regular));
    }

    private void Refuse(byte[] archive, string entry, string reason)
    {
        string layer = NewChild();
        var (diff, union) = _scratch.Driver.ApplyTarget(layer);

        var refused = Assert.Throws<ArchiveUnsafeEntryException>(() => Apply(archive, diff, union));

        Assert.Equal(entry, refused.EntryName);
        Assert.Contains(reason, refused.Message);
        Assert.Empty(TreeSnapshot.Take(_sentinel).DifferencesFrom(_sentinelBefore, FileKind.Regular));
    }

    private string NewChild()
    {
        string id = OverlayScratch.NewId();
        _scratch.Driver.Create(id, _parent, null);
        return id;
    }

    private static void Apply(byte[] archive, string root, IUnionLayers union)
    {
        using var reader = new TarReader(new MemoryStream(archive));
        ChangesetApplier.Apply(reader, root, null, null, union);
    }
}
