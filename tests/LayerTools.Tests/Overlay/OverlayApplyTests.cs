using LayerTools.Archive;
using LayerTools.Changes;
using LayerTools.Native;
using LayerTools.Tests.Apply;
using Xunit;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Overlay;

/// <summary>
/// A changeset applied straight into an overlay diff directory against the same changeset applied
/// through a mount of the layer, where overlayfs itself makes the whiteouts and copy-ups: mounted, the
/// two layers must show the same tree, and the native changes of the one written directly must be
/// what comparing the merged views gives.
/// </summary>
public sealed class OverlayApplyTests : IDisposable
{
    private static readonly Timestamp Time = new(1_700_000_000, 5);
    private readonly OverlayScratch _scratch = new();
    private readonly string _base;
    private readonly string _parent;

    public OverlayApplyTests()
    {
        // Two ancestors, so lookups cross a whiteout, an opaque directory and a copied-up directory in a lower diff.
        _base = NewLayer(null);
        WriteThrough(_base, ApplyChangesetTests.BuildLower);
        _parent = NewLayer(_base);
        WriteThrough(_parent, merged =>
        {
            File.Delete(Path.Join(merged, "static/s.txt"));
            Directory.Delete(Path.Join(merged, "olddir"), recursive: true);
            Directory.CreateDirectory(Path.Join(merged, "olddir"));
            File.WriteAllText(Path.Join(merged, "olddir/mid"), "made in the middle layer\n");
            Directory.CreateDirectory(Path.Join(merged, "midonly/sub"));
            File.WriteAllText(Path.Join(merged, "midonly/sub/f"), "mid\n");
            File.WriteAllText(Path.Join(merged, "etc/passwd"), "changed in the middle layer\n");
        });
    }

    public void Dispose() => _scratch.Dispose();

    public static TheoryData<string> Changesets => new(Archives.Keys);

    // Directories an archive makes without naming them get the time they were made, so two applies differ there.
    private static readonly Dictionary<string, string[]> MadeNow = new()
    {
        ["deleted and made again"] = ["/static", "/static/implicit"],
        ["deep changes in lower-only directories"] = ["/midonly/sub/new", "/midonly/sub/new/deeper"],
    };

    private static readonly Dictionary<string, Func<byte[]>> Archives = new()
    {
        ["mixed"] = ApplyChangesetTests.MixedChangeset,
        ["deleted and made again"] = () => new LayerArchive()
            .Whiteout(".wh.olddir")
            .Whiteout(".wh.gone.txt")
            .Directory("olddir/", mtime: Time)
            .File("olddir/fresh", "only this\n", mtime: Time)
            .Whiteout(".wh.static")
            .File("static/implicit/deep", "a missing parent made again\n", mtime: Time)
            .ToArray(),
        ["opaque after kept directories"] = () => new LayerArchive()
            .Directory("midonly/", mtime: Time)
            .Directory("midonly/sub/", mtime: Time)
            .File("midonly/sub/g", "upper\n", mtime: Time)
            .Whiteout("midonly/.wh..wh..opq")
            .ToArray(),
        ["opaque root"] = () => new LayerArchive()
            .Directory("etc/", mode: Octal("700"), mtime: Time)
            .File("etc/hostname", "upper\n", mtime: Time)
            .Whiteout(".wh..wh..opq")
            .File("late", "after the marker\n", mtime: Time)
            .ToArray(),
        ["deep changes in lower-only directories"] = () => new LayerArchive()
            .File("midonly/sub/new/deeper/file", "implicit parents under a copied-up one\n", mtime: Time)
            .Whiteout("whparent/.wh.stay.txt")
            .Whiteout("untouched/.wh.no-such-file")
            .Whiteout("no-such-dir/.wh.x")
            .Hardlink("etc/link-to-lower", "olddir/mid")
            .Symlink("dir2file", "static")
            .ToArray(),
        ["overlay's own attribute names"] = () => new LayerArchive()
            .Directory("./", mode: Octal("711"), mtime: Time, xattrs: [new("trusted.overlay.opaque", "y"u8.ToArray())])
            .File("etc/passwd", "upper\n", mtime: Time, xattrs: [new("trusted.overlay.whiteout", "y"u8.ToArray()), new("user.x", "1"u8.ToArray())])
            .Directory("chmoddir/", mtime: Time, xattrs: [new("trusted.overlay.upper", "z"u8.ToArray())])
            .ToArray(),
    };

    [Theory]
    [MemberData(nameof(Changesets))]
    public void Applied_into_the_diff_the_layer_shows_what_applying_through_a_mount_shows(string changeset)
    {
        byte[] archive = Archives[changeset]();
        string direct = NewLayer(_parent);
        var (diff, union) = _scratch.Driver.ApplyTarget(direct);
        ApplyResult directResult = Apply(archive, diff, union);
        string mounted = NewLayer(_parent);
        ApplyResult mountedResult = WriteThrough(mounted, merged => Apply(archive, merged, null));

        Assert.Equal(mountedResult.Entries, directResult.Entries);
        string directView = _scratch.Driver.Mount(direct, readOnly: true);
        string mountedView = _scratch.Driver.Mount(mounted, readOnly: true);
        string parentView = _scratch.Driver.Mount(_parent, readOnly: true);
        try
        {
            string[] madeNow = MadeNow.GetValueOrDefault(changeset, []);
            List<string> differences = TreeSnapshot.Take(directView).DifferencesFrom(TreeSnapshot.Take(mountedView))
                .Where(d => !madeNow.Any(m => d.StartsWith(m + ": mtime ", StringComparison.Ordinal))).ToList();
            Assert.Empty(differences);
            Assert.Equal(
                TreeComparer.Compare(parentView, directView).Select(c => $"{c.Kind} {c.Path}"),
                _scratch.Driver.ChangesFromParent(direct).Select(c => $"{c.Kind} {c.Path}"));
        }
        finally
        {
            foreach (string id in new[] { direct, mounted, _parent }) _scratch.Driver.Unmount(id, lazy: false);
        }
    }

    [Fact]
    public void Whiteouts_and_opaque_directories_take_overlayfs_own_form_in_the_diff()
    {
        string layer = NewLayer(_parent);
        var (diff, union) = _scratch.Driver.ApplyTarget(layer);
        Apply(ArchiveOf("deleted and made again"), diff, union);

        FileStatus whiteout = Fs.Lstat(Path.Join(diff, "gone.txt"));
        Assert.Equal((FileKind.CharDevice, 0u, 0u), (whiteout.Kind, whiteout.RdevMajor, whiteout.RdevMinor));
        // Deleted, then made again by an entry or as a missing parent: a new directory that must not show the old one's files.
        foreach (string remade in new[] { "olddir", "static" })
            Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(diff, remade), "trusted.overlay.opaque"));
        Assert.Null(Xattrs.Get(Path.Join(diff, "static/implicit"), "trusted.overlay.opaque"));
        // No .wh. name is left in the diff: overlayfs would show it as a file.
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(diff, "*", SearchOption.AllDirectories), p => Path.GetFileName(p).StartsWith(".wh.", StringComparison.Ordinal));
    }

    [Fact]
    public void A_changeset_into_a_lower_only_directory_copies_it_up_with_its_attributes()
    {
        string layer = NewLayer(_parent);
        var (diff, union) = _scratch.Driver.ApplyTarget(layer);
        Apply(new LayerArchive().File("chmoddir/new", "upper\n", mtime: Time).ToArray(), diff, union);

        FileStatus original = Fs.Lstat(Path.Join(_scratch.Diff(_base), "chmoddir"));
        FileStatus copied = Fs.Lstat(Path.Join(diff, "chmoddir"));
        Assert.Equal((original.Permissions, original.Uid, original.Gid, original.Mtime), (copied.Permissions, copied.Uid, copied.Gid, copied.Mtime));
        Assert.Equal("lower"u8.ToArray(), Xattrs.Get(Path.Join(diff, "chmoddir"), "user.kept"));
        Assert.False(Fs.TryLstat(Path.Join(diff, "chmoddir/keep.txt"), out _), "only the directory is copied up, not its files");
    }

    [Fact]
    public void An_attribute_in_overlayfs_own_namespace_is_stored_escaped_and_shows_as_itself()
    {
        string layer = NewLayer(_parent);
        var (diff, union) = _scratch.Driver.ApplyTarget(layer);
        Apply(ArchiveOf("overlay's own attribute names"), diff, union);

        Assert.Null(Xattrs.Get(diff, "trusted.overlay.opaque"));
        Assert.Equal("y"u8.ToArray(), Xattrs.Get(diff, "trusted.overlay.overlay.opaque"));
        Assert.Null(Xattrs.Get(Path.Join(diff, "etc/passwd"), "trusted.overlay.whiteout"));
        string view = _scratch.Driver.Mount(layer, readOnly: true);
        try
        {
            Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(view, "etc/passwd"), "trusted.overlay.whiteout"));
            Assert.Equal("upper\n", File.ReadAllText(Path.Join(view, "etc/passwd")));
            Assert.Equal(Octal("711"), Fs.Lstat(view).Permissions);
        }
        finally
        {
            _scratch.Driver.Unmount(layer, lazy: false);
        }
    }

    private static byte[] ArchiveOf(string name) => Archives[name]();

    private string NewLayer(string? parent)
    {
        string id = OverlayScratch.NewId();
        _scratch.Driver.Create(id, parent, null);
        return id;
    }

    private T WriteThrough<T>(string id, Func<string, T> write)
    {
        string merged = _scratch.Driver.Mount(id, readOnly: false);
        try
        {
            return write(merged);
        }
        finally
        {
            _scratch.Driver.Unmount(id, lazy: false);
        }
    }

    private void WriteThrough(string id, Action<string> write) => WriteThrough(id, merged =>
    {
        write(merged);
        return 0;
    });

    private static ApplyResult Apply(byte[] archive, string root, IUnionLayers? union)
    {
        using var reader = new TarReader(new MemoryStream(archive));
        return ChangesetApplier.Apply(reader, root, null, null, union);
    }
}
