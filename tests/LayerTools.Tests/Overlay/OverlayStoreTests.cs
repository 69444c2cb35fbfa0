using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using LayerTools.Archive;
using LayerTools.Drivers.Overlay;
using LayerTools.Native;
using LayerTools.Store;
using LayerTools.Tests.Archive;
using LayerTools.Tests.Diffs;
using LayerTools.Tests.Store;
using Xunit;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Overlay;

/// <summary>The store on the overlay driver: records, mount counts, layer tarballs in and out, and tarballs shared with vfs stores.</summary>
public sealed class OverlayStoreTests : IDisposable
{
    private readonly ScratchStore _store = new();
    private readonly ScratchStore _vfsStore = new();
    private readonly StoreEngine _engine;

    public OverlayStoreTests()
    {
        _engine = StoreEngine.Initialize(_store.Options, "overlay", force: false);
    }

    public void Dispose()
    {
        _store.Dispose();
        _vfsStore.Dispose();
    }

    private string Home => Path.Combine(_store.Root, "overlay");

    [Fact]
    public void Initialize_makes_an_overlay_store_that_opens_and_describes_itself()
    {
        Assert.Equal("overlay", _engine.Driver.Name);
        Assert.Equal("overlay", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(_store.Root, "store.json")))!["driver"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_store.Root));
        Assert.Equal(["empty", "l"], DirectoryListing.Names(Home).Order(StringComparer.Ordinal));

        LayerStore described = StoreEngine.Open(_store.Options).Describe();

        Assert.Equal("overlay", described.Driver);
        Assert.Equal("ext4", described.BackingFilesystem);
        Assert.Equal("ext4", described.Status["Backing Filesystem"]);
        Assert.Equal("true", described.Status["Supports d_type"]);
        Assert.Equal(Home, described.Status["Layers"]);
        // Initializing again with the same driver runs the check again and keeps the store.
        Assert.Equal("overlay", StoreEngine.Initialize(_store.Options, "overlay", force: false).Driver.Name);
        _store.AssertMetadataIntact();
    }

    [Fact]
    public void Layers_are_made_mounted_counted_unmounted_and_removed()
    {
        Layer base_ = _engine.Create(new LayerSpec { Names = ["base"] });
        Layer child = _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        Assert.True(Directory.Exists(Path.Combine(Home, child.Id, "diff")));

        LayerMount first = _engine.Mount("child", readOnly: false);
        LayerMount second = _engine.Mount("child", readOnly: false);
        Assert.Equal(Path.Combine(Home, child.Id, "merged"), first.Path);
        Assert.Equal((first.Path, 2), (second.Path, second.MountCount));
        Assert.Equal("overlay", OverlayScratch.FilesystemType(first.Path));
        Assert.Equal(2, _engine.Get("child").MountCount);
        Assert.Equal(1, _engine.Describe().MountedCount);
        File.WriteAllText(Path.Join(first.Path, "through-the-store"), "x");
        var busy = Assert.Throws<LayerToolsException>(() => _engine.Mount("child", readOnly: true));
        Assert.Equal(LayerError.LayerMounted, busy.Error);

        Assert.Equal(1, _engine.Unmount("child", force: false).MountCount);
        Assert.True(Mounts.IsMountPoint(first.Path));
        Assert.Equal(0, _engine.Unmount("child", force: false).MountCount);
        Assert.False(Mounts.IsMountPoint(first.Path));
        Assert.True(File.Exists(Path.Join(Home, child.Id, "diff", "through-the-store")));

        _engine.Mount("child", readOnly: true);
        var refused = Assert.Throws<LayerToolsException>(() => _engine.Remove("child", force: false, recurse: false));
        Assert.Equal(LayerError.LayerMounted, refused.Error);
        Assert.Equal([child.Id, base_.Id], _engine.Remove("base", force: true, recurse: true));

        Assert.Empty(_engine.List());
        Assert.Empty(_store.MountsUnder());
        Assert.Equal(["empty", "l"], DirectoryListing.Names(Home).Order(StringComparer.Ordinal));
        Assert.Empty(DirectoryListing.Names(Path.Combine(Home, "l")));
        _store.AssertMetadataIntact();
    }

    [Fact]
    public void Initialize_with_Force_unmounts_and_removes_every_overlay_layer()
    {
        _engine.Create(new LayerSpec { Names = ["base"] });
        Layer child = _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        _engine.Mount("base", readOnly: true);
        _engine.Mount("child", readOnly: false);

        StoreEngine wiped = StoreEngine.Initialize(_store.Options, "overlay", force: true);

        Assert.Empty(wiped.List());
        Assert.Empty(_store.MountsUnder());
        Assert.False(Directory.Exists(Path.Combine(Home, child.Id)));
        Assert.Equal("overlay", wiped.Create(new LayerSpec { Names = ["base"] }).Driver);
    }

    [Fact]
    public void A_child_diff_has_whiteouts_for_deletions_and_none_of_overlayfs_own_attributes()
    {
        MakeBase(_engine);
        Layer child = _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        ChangeTree(_engine.Mount("child", readOnly: false).Path);
        _engine.Unmount("child", force: false);
        string diffDirectory = Path.Combine(Home, child.Id, "diff");
        // The diff directory does hold overlayfs' markers: a re-made directory is opaque, a deletion is a whiteout.
        Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(diffDirectory, "links2"), "trusted.overlay.opaque"));
        Assert.Equal(FileKind.CharDevice, Fs.Lstat(Path.Join(diffDirectory, "empty")).Kind);

        string tarball = _store.Location + "/child.tar";
        LayerDiff diff = _engine.ExportDiff("child", null, tarball, CompressionKind.None, overwrite: true);

        string[] listed = ExternalTool.RunText("tar", "-tf", tarball).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(name => name == "./" ? name : name.TrimEnd('/')).ToArray();
        IReadOnlyList<LayerChange> changes = _engine.Changes("child", null);
        Assert.Equal(changes.Select(ChangeSet.TarEntryName), listed);
        Assert.Equal(changes.Count, diff.Entries);
        Assert.Contains(".wh.empty", listed);
        Assert.Contains(".wh.a", listed);
        Assert.Contains("links2/replacement", listed);
        Assert.DoesNotContain("a/b/c/deep.txt", listed);
        // The one trusted.overlay.* attribute in the tarball is the data the tree's author set on usr/bin.
        string everything = Encoding.Latin1.GetString(File.ReadAllBytes(tarball));
        string[] overlayAttributes = Regex.Matches(everything, @"trusted\.overlay\.[a-z.]+=[^\n]*").Select(m => m.Value).Distinct().ToArray();
        Assert.Equal(["trusted.overlay.redirect=/data/not/a/redirect"], overlayAttributes);
    }

    [Fact]
    public void An_overlay_child_diff_imports_into_overlay_and_vfs_children_to_identical_trees()
    {
        StoreEngine vfs = StoreEngine.Initialize(_vfsStore.Options, "vfs", force: false);
        MakeBase(_engine);
        MakeBase(vfs);
        ChangeSet.AssertSameTrees(_engine, "base", vfs, "base");
        _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        ChangeTree(_engine.Mount("child", readOnly: false).Path);
        _engine.Unmount("child", force: false);
        string tarball = _store.Location + "/child.tar";
        LayerDiff exported = _engine.ExportDiff("child", null, tarball, CompressionKind.None, overwrite: true);

        _engine.Create(new LayerSpec { Names = ["again"], Parent = "base" });
        _engine.ImportDiff("again", tarball);
        vfs.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        LayerDiff imported = vfs.ImportDiff("child", tarball);

        ChangeSet.AssertSameTrees(_engine, "child", _engine, "again");
        ChangeSet.AssertSameTrees(_engine, "child", vfs, "child");
        Assert.Empty(_engine.Changes("again", "child"));
        Assert.Equal(exported.UncompressedDigest, imported.UncompressedDigest);
    }

    [Fact]
    public void A_vfs_child_diff_imports_into_an_overlay_child_to_an_identical_tree()
    {
        StoreEngine vfs = StoreEngine.Initialize(_vfsStore.Options, "vfs", force: false);
        MakeBase(vfs);
        MakeBase(_engine);
        vfs.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        ChangeTree(vfs.Mount("child", readOnly: false).Path);
        vfs.Unmount("child", force: false);
        string tarball = _vfsStore.Location + "/child.tar";
        vfs.ExportDiff("child", null, tarball, CompressionKind.None, overwrite: true);

        _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" }, tarball);

        ChangeSet.AssertSameTrees(vfs, "child", _engine, "child");
        // The re-export of a layer made from a tarball is that tarball, byte for byte.
        string again = _store.Location + "/again.tar";
        Assert.True(_engine.ExportDiff("child", null, again, CompressionKind.None, overwrite: true).Exact);
        Assert.Equal(File.ReadAllBytes(tarball), File.ReadAllBytes(again));
    }

    [Fact]
    public void A_layer_under_a_mounted_child_takes_no_import_and_mounting_it_read_write_warns()
    {
        string tarball = Path.Combine(_store.Location, "one-file.tar");
        File.WriteAllBytes(tarball, new LayerTools.Tests.Apply.LayerArchive().File("added", "new\n").ToArray());
        StoreEngine vfs = StoreEngine.Initialize(_vfsStore.Options, "vfs", force: false);
        foreach (StoreEngine store in new[] { _engine, vfs })
        {
            store.Create(new LayerSpec { Names = ["base"] });
            store.Create(new LayerSpec { Names = ["child"], Parent = "base" });
            store.Mount("child", readOnly: true);
        }

        var error = Assert.Throws<LayerToolsException>(() => _engine.ImportDiff("base", tarball));
        Assert.Equal(LayerError.LayerMounted, error.Error);
        Assert.Contains("lies under layer 'child', which is mounted at", error.Message);
        _engine.Mount("base", readOnly: false);
        Assert.Contains(_store.Warnings, w => w.StartsWith("Layer 'base' is mounted read-write while 'child', which stacks it, is mounted as well"));

        // A vfs child is a copy: its parent changes freely under it.
        vfs.ImportDiff("base", tarball);
        vfs.Mount("base", readOnly: false);
        Assert.Empty(_vfsStore.Warnings);
        foreach (StoreEngine store in new[] { _engine, vfs })
        {
            store.Unmount("base", force: true);
            store.Unmount("child", force: true);
        }
    }

    [Fact]
    public void Initialize_inside_an_overlay_mount_is_DriverNotSupported_and_names_overlay()
    {
        string outer = Path.Combine(_store.Location, "outer");
        foreach (string directory in new[] { "lower", "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(outer, directory));
        new OverlayMount([Path.Combine(outer, "lower")], Path.Combine(outer, "upper"), Path.Combine(outer, "work"))
            .MountAt(Path.Combine(outer, "merged"), readOnly: false);
        string root = Path.Combine(outer, "merged", "store");

        var error = Assert.Throws<LayerToolsException>(() => StoreEngine.Initialize(_store.OptionsAt(root), "overlay", force: false));

        Assert.Equal(LayerError.DriverNotSupported, error.Error);
        Assert.Contains("overlay file system", error.Message);
        Assert.Contains(Path.Combine(outer, "merged"), error.Message);
        Assert.Contains("-Driver vfs", error.Message);
        Assert.False(Directory.Exists(root));
        // vfs works there, as Docker's vfs driver does inside a container.
        Assert.Equal("vfs", StoreEngine.Initialize(_store.OptionsAt(root), "vfs", force: false).Driver.Name);
    }

    private static void MakeBase(StoreEngine engine)
    {
        engine.Create(new LayerSpec { Names = ["base"] });
        Build(engine.Mount("base", readOnly: false).Path, NetBindServiceCapability());
        engine.Unmount("base", force: false);
    }

    /// <summary>Adds (a hardlink pair, a symlink, an xattr), deletes a file and whole directories, re-makes a directory, changes content and modes.</summary>

    /// <summary>The shared change set, plus an xattr in overlayfs' own namespace that must travel as user data.</summary>
    private static void ChangeTree(string tree)
    {
        ChangeSet.Apply(tree);
        Xattrs.Set(Path.Join(tree, "usr/bin"), "trusted.overlay.redirect", "/data/not/a/redirect"u8.ToArray());
    }
}
