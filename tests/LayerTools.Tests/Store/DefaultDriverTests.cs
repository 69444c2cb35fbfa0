using System.Text.Json.Nodes;
using LayerTools.Drivers.Overlay;
using LayerTools.Native;
using LayerTools.Store;
using Xunit;

namespace LayerTools.Tests.Store;

/// <summary>
/// The driver a store gets when none is asked for: overlay where it works (as on the ext4 these tests run on),
/// else vfs with a warning that says why.
/// </summary>
public sealed class DefaultDriverTests : IDisposable
{
    private readonly ScratchStore _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Open_initializes_a_never_used_root_with_overlay_where_it_works()
    {
        Assert.Null(StoreEngine.OpenExisting(_scratch.Options));
        Assert.False(Directory.Exists(_scratch.Root), "OpenExisting must not create anything");

        StoreEngine store = StoreEngine.Open(_scratch.Options);

        Assert.Equal("overlay", store.Driver.Name);
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(_scratch.Root, "store.json")))!;
        Assert.Equal("overlay", (string?)config["driver"]);
        Assert.Equal(StoreConfig.CurrentVersion, (int?)config["version"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_scratch.Root));
        Assert.NotNull(StoreEngine.OpenExisting(_scratch.Options));
        Assert.Equal(0, store.Describe().LayerCount);
        Assert.Empty(_scratch.Warnings);
    }

    [Fact]
    public void Initialize_without_a_driver_keeps_the_driver_of_an_existing_store()
    {
        StoreEngine.Initialize(_scratch.Options, "vfs", force: false).Create(new LayerSpec { Names = ["kept"] });

        StoreEngine again = StoreEngine.Initialize(_scratch.Options, driver: null, force: false);

        Assert.Equal("vfs", again.Driver.Name);
        Assert.Equal(["kept"], again.List().Single().Names);
        // Nothing was checked for a store that is not new, so nothing of overlay's appeared.
        Assert.False(Directory.Exists(Path.Combine(_scratch.Root, "overlay")));
        Assert.Empty(_scratch.Warnings);
    }

    [Fact]
    public void Initialize_with_Force_but_no_driver_starts_the_store_over_with_its_own_driver()
    {
        StoreEngine.Initialize(_scratch.Options, "vfs", force: false).Create(new LayerSpec { Names = ["wiped"] });

        StoreEngine again = StoreEngine.Initialize(_scratch.Options, driver: null, force: true);

        Assert.Equal("vfs", again.Driver.Name);
        Assert.Empty(again.List());
        Assert.False(Directory.Exists(Path.Combine(_scratch.Root, "overlay")));
    }

    [Fact]
    public void A_root_inside_an_overlay_mount_gets_vfs_and_a_warning_naming_the_overlay_mount()
    {
        string outer = Path.Combine(_scratch.Location, "outer");
        foreach (string directory in new[] { "lower", "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(outer, directory));
        new OverlayMount([Path.Combine(outer, "lower")], Path.Combine(outer, "upper"), Path.Combine(outer, "work"))
            .MountAt(Path.Combine(outer, "merged"), readOnly: false);
        string root = Path.Combine(outer, "merged", "store");

        StoreEngine store = StoreEngine.Open(_scratch.OptionsAt(root));

        Assert.Equal("vfs", store.Driver.Name);
        string warning = Assert.Single(_scratch.Warnings);
        Assert.Contains($"Store '{root}' gets the vfs driver", warning);
        Assert.Contains($"is on an overlay file system (mounted at {Path.Combine(outer, "merged")})", warning);
        AssertAVfsStoreOnly(root);
        // The choice is made once: the store is vfs from now on, without another check or warning.
        Assert.Equal("vfs", StoreEngine.Open(_scratch.OptionsAt(root)).Driver.Name);
        Assert.Single(_scratch.Warnings);
    }

    [Fact]
    public void A_root_where_the_probe_mount_cannot_delete_gets_vfs_and_no_directory_the_check_made()
    {
        using var ramfs = new RamfsMount(Path.Combine(_scratch.Location, "ramfs"));
        string root = Path.Combine(ramfs.Path, "store");

        StoreEngine store = StoreEngine.Open(_scratch.OptionsAt(root));

        Assert.Equal("vfs", store.Driver.Name);
        string warning = Assert.Single(_scratch.Warnings);
        Assert.Contains($"Store '{root}' gets the vfs driver", warning);
        Assert.Contains("Overlay mounts on the ramfs file system", warning);
        AssertAVfsStoreOnly(root);
    }

    /// <summary>The store at <paramref name="root"/> works on vfs and holds nothing of overlay's, not even an empty directory.</summary>
    private void AssertAVfsStoreOnly(string root)
    {
        Assert.Equal(["store.json", "store.lock", "vfs"], DirectoryListing.Names(root).Order(StringComparer.Ordinal));
        StoreEngine store = StoreEngine.OpenExisting(_scratch.OptionsAt(root))!;
        Layer layer = store.Create(new LayerSpec { Names = ["works"] });
        LayerMount mount = store.Mount("works", readOnly: false);
        File.WriteAllText(Path.Combine(mount.Path, "file"), "x");
        store.Unmount("works", force: false);
        Assert.Equal("x", File.ReadAllText(Path.Combine(new DriverLayout("vfs", root).OwnTree(layer.Id), "file")));
    }
}
