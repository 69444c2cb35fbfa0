using System.Text.Json.Nodes;
using LayerTools.Native;
using LayerTools.Store;
using Xunit;

namespace LayerTools.Tests.Store;

/// <summary>The store core on real directories and real mounts, without PowerShell, once per driver (the classes at the end).</summary>
public abstract class StoreEngineTests
{
    protected abstract string Driver { get; }

    // ---- Initialize, Open, Describe ----

    [Fact]
    public void Initialize_then_Describe_shows_an_empty_store_on_ext4()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = StoreEngine.Initialize(s.Options, Driver, force: false);

        LayerStore described = store.Describe();

        Assert.Equal(s.Root, described.Root);
        Assert.Equal(Driver, described.Driver);
        Assert.Equal("ext4", described.BackingFilesystem);
        Assert.Equal(0, described.LayerCount);
        Assert.Equal(0, described.MountedCount);
        Assert.StartsWith(s.RunRoot + "/", described.RunRoot);
        Assert.Equal(s.Layout.LayersDirectory, described.Status["Layers"]);
        s.AssertMetadataIntact();
    }

    [Fact]
    public void Initialize_again_with_the_same_driver_keeps_the_layers()
    {
        using var s = new ScratchStore(Driver);
        s.Open().Create(new LayerSpec { Names = ["kept"] });

        StoreEngine again = StoreEngine.Initialize(s.Options, Driver, force: false);

        Assert.Equal(["kept"], again.List().Single().Names);
    }

    [Fact]
    public void Initialize_with_another_driver_than_the_store_has_is_StoreAlreadyInitialized()
    {
        using var s = new ScratchStore(Driver);
        Layer layer = s.Open().Create(new LayerSpec { Names = ["kept"] });
        string configFile = Path.Combine(s.Root, "store.json");

        string other = Driver == "vfs" ? "overlay" : "vfs";

        var error = Fails(LayerError.StoreAlreadyInitialized, () => StoreEngine.Initialize(s.Options, other, force: false));

        Assert.Contains(Driver, error.Message);
        Assert.Contains("-Force", error.Message);
        Assert.Equal(Driver, (string?)JsonNode.Parse(File.ReadAllText(configFile))!["driver"]);
        Assert.Equal(layer.Id, (string?)s.LayerRecords().Single()!["id"]);
        Assert.True(Directory.Exists(s.TreeOf(layer.Id)));
    }

    [Fact]
    public void Initialize_with_a_driver_this_host_cannot_run_is_DriverNotSupported_and_changes_nothing()
    {
        using var s = new ScratchStore(Driver);
        s.Open().Create(new LayerSpec { Names = ["kept"] });

        Fails(LayerError.DriverNotSupported, () => StoreEngine.Initialize(s.Options, "devicemapper", force: false));
        Fails(LayerError.DriverNotSupported, () => StoreEngine.Initialize(s.Options, "aufs", force: true));

        Assert.Equal(["kept"], s.Open().List().Single().Names);
    }

    [Fact]
    public void Initialize_with_Force_unmounts_and_removes_every_layer()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer parent = store.Create(new LayerSpec { Names = ["parent"] });
        Layer child = store.Create(new LayerSpec { Names = ["child"], Parent = "parent" });
        LayerMount mount = store.Mount("child", readOnly: false);
        Assert.True(Mounts.IsMountPoint(mount.Path));

        StoreEngine wiped = StoreEngine.Initialize(s.Options, Driver, force: true);

        Assert.Empty(wiped.List());
        Assert.Equal((0, 0), (wiped.Describe().LayerCount, wiped.Describe().MountedCount));
        Assert.False(Mounts.IsMountPoint(mount.Path));
        Assert.Empty(s.MountsUnder());
        Assert.Empty(s.TreeIds());
        Assert.False(Directory.Exists(s.TreeOf(parent.Id)));
        Assert.False(Directory.Exists(s.TreeOf(child.Id)));
        Assert.Empty(s.LayerRecords());
        s.AssertMetadataIntact();

        // The wiped store is usable at once, by name too: the old names are free again.
        Layer fresh = wiped.Create(new LayerSpec { Names = ["parent"] });
        Assert.True(Directory.Exists(s.TreeOf(fresh.Id)));
    }

    // ---- Create and lookup ----

    [Fact]
    public void Create_records_names_parent_metadata_and_an_explicit_id()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        string id = IdStartingWith("0123");
        Layer parent = store.Create(new LayerSpec { Names = ["base", "base-alias"], Metadata = "{\"os\":\"linux\"}" });
        File.WriteAllText(Path.Combine(s.TreeOf(parent.Id), "from-parent"), "hello");

        Layer child = store.Create(new LayerSpec { Names = ["app", "app"], Parent = "base-alias", Id = id, ReadOnly = true });

        Assert.Equal(["base", "base-alias"], parent.Names);
        Assert.Equal("{\"os\":\"linux\"}", parent.Metadata);
        Assert.Null(parent.Parent);
        Assert.True(StoreEngine.IsId(parent.Id));
        Assert.Equal(id, child.Id);
        Assert.Equal(["app"], child.Names);
        Assert.Equal(parent.Id, child.Parent);
        Assert.True(child.ReadOnly);
        Assert.Equal(Driver, child.Driver);
        Assert.Equal(s.Root, child.Root);
        Assert.Equal(0, child.MountCount);
        Assert.Equal(DateTimeKind.Utc, child.Created.Kind);
        Assert.InRange(child.Created, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddSeconds(1));
        // The child starts as its parent's tree, however the driver gets it there.
        string childTree = store.Mount(id, readOnly: true).Path;
        Assert.Equal("hello", File.ReadAllText(Path.Combine(childTree, "from-parent")));
        store.Unmount(id, force: false);
        Assert.Equal([parent.Id, id], store.List().Select(l => l.Id));
        Assert.Equal([id], store.Children(parent.Id).Select(l => l.Id));
        Assert.Equal(2, store.Describe().LayerCount);
        Assert.All(s.LayerRecords(), r => Assert.False((bool)r!["incomplete"]!));
        s.AssertMetadataIntact();
    }

    [Fact]
    public void Get_finds_a_layer_by_id_by_each_name_and_by_a_unique_id_prefix()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer one = store.Create(new LayerSpec { Names = ["one", "first"], Id = IdStartingWith("abc1") });
        store.Create(new LayerSpec { Names = ["two"], Id = IdStartingWith("abc2") });

        Assert.Equal(one.Id, store.Get(one.Id).Id);
        Assert.Equal(one.Id, store.Get("one").Id);
        Assert.Equal(one.Id, store.Get("first").Id);
        Assert.Equal(one.Id, store.Get("abc1").Id);
        Assert.Equal(one.Id, store.Get("ABC1").Id);
        Assert.Equal(one.Id, store.Get(one.Id[..12]).Id);
    }

    [Fact]
    public void A_name_wins_over_an_id_prefix_it_happens_to_spell()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Id = IdStartingWith("beef") });
        Layer named = store.Create(new LayerSpec { Names = ["beef"], Id = IdStartingWith("0000") });

        Assert.Equal(named.Id, store.Get("beef").Id);
    }

    [Fact]
    public void A_prefix_of_several_ids_is_LayerIdAmbiguous()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Id = IdStartingWith("abc1") });
        store.Create(new LayerSpec { Id = IdStartingWith("abc2") });

        var error = Fails(LayerError.LayerIdAmbiguous, () => store.Get("abc"));

        Assert.Equal("abc", error.Target);
        Assert.Contains("abc1", error.Message);
        Assert.Contains("abc2", error.Message);
        Fails(LayerError.LayerIdAmbiguous, () => store.Create(new LayerSpec { Parent = "abc" }));
        Assert.Equal(2, store.List().Count);
    }

    [Fact]
    public void An_unknown_layer_is_LayerNotFound_for_every_operation()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["known"], Id = IdStartingWith("aa") });

        var error = Fails(LayerError.LayerNotFound, () => store.Get("missing"));
        Assert.Contains("missing", error.Message);
        Assert.Contains(s.Root, error.Message);
        Fails(LayerError.LayerNotFound, () => store.Get("bb"));
        Fails(LayerError.LayerNotFound, () => store.Get(IdStartingWith("ab")));
        Fails(LayerError.LayerNotFound, () => store.Create(new LayerSpec { Names = ["orphan"], Parent = "missing" }));
        Fails(LayerError.LayerNotFound, () => store.Update("missing", ["x"], [], null));
        Fails(LayerError.LayerNotFound, () => store.Remove("missing", force: true, recurse: true));
        Fails(LayerError.LayerNotFound, () => store.Mount("missing", readOnly: false));
        Fails(LayerError.LayerNotFound, () => store.Unmount("missing", force: true));

        Assert.Equal(["known"], store.List().Single().Names);
        Assert.Single(s.TreeIds());
    }

    [Fact]
    public void A_name_already_used_is_LayerNameInUse_on_Create_and_on_Update()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer holder = store.Create(new LayerSpec { Names = ["web"] });
        Layer other = store.Create(new LayerSpec { Names = ["db"] });

        var error = Fails(LayerError.LayerNameInUse, () => store.Create(new LayerSpec { Names = ["new", "web"] }));
        Assert.Contains(holder.Id, error.Message);
        Fails(LayerError.LayerNameInUse, () => store.Update("db", ["web"], [], null));

        Assert.Equal(2, store.List().Count);
        Assert.Equal(2, s.TreeIds().Count);
        Assert.Equal(["db"], store.Get(other.Id).Names);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("two words")]
    [InlineData("tab\tin")]
    [InlineData("*")]
    [InlineData("web*")]
    [InlineData("a?b")]
    [InlineData("[x]")]
    [InlineData("a/b")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void An_invalid_name_is_InvalidLayerName_and_creates_nothing(string name)
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["good"] });

        Fails(LayerError.InvalidLayerName, () => store.Create(new LayerSpec { Names = [name] }));
        Fails(LayerError.InvalidLayerName, () => store.Update("good", [name], [], null));

        Assert.Equal(["good"], store.List().Single().Names);
        Assert.Single(s.TreeIds());
        Assert.Single(s.LayerRecords());
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0")]
    [InlineData("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF")]
    [InlineData("g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("")]
    public void A_malformed_explicit_id_is_InvalidLayerId(string id)
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();

        Fails(LayerError.InvalidLayerId, () => store.Create(new LayerSpec { Names = ["x"], Id = id }));

        Assert.Empty(store.List());
        Assert.Empty(s.TreeIds());
    }

    [Fact]
    public void An_explicit_id_already_in_the_store_is_LayerIdInUse()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        string id = IdStartingWith("5");
        store.Create(new LayerSpec { Names = ["first"], Id = id });
        File.WriteAllText(Path.Combine(s.TreeOf(id), "content"), "untouched");

        var error = Fails(LayerError.LayerIdInUse, () => store.Create(new LayerSpec { Names = ["second"], Id = id }));

        Assert.Equal(id, error.Target);
        Assert.Equal(["first"], store.Get(id).Names);
        Assert.Equal("untouched", File.ReadAllText(Path.Combine(s.TreeOf(id), "content")));
    }

    // ---- Update ----

    [Fact]
    public void Update_adds_and_removes_names_and_sets_metadata_and_it_survives_reopening()
    {
        using var s = new ScratchStore(Driver);
        Layer layer = s.Open().Create(new LayerSpec { Names = ["old", "keep"], Metadata = "v1" });

        Layer updated = s.Open().Update(layer.Id[..10], addNames: ["new", "keep"], removeNames: ["old"], metadata: "v2");
        Assert.Equal(["keep", "new"], updated.Names);
        Assert.Equal("v2", updated.Metadata);

        StoreEngine reopened = StoreEngine.OpenExisting(s.Options)!;
        Layer read = reopened.Get("new");
        Assert.Equal(layer.Id, read.Id);
        Assert.Equal(["keep", "new"], read.Names);
        Assert.Equal("v2", read.Metadata);
        Fails(LayerError.LayerNotFound, () => reopened.Get("old"));

        // No metadata given leaves it as it was; a removed name is free for another layer.
        Assert.Equal("v2", reopened.Update("keep", [], [], null).Metadata);
        Assert.Equal(["old"], reopened.Create(new LayerSpec { Names = ["old"] }).Names);
        s.AssertMetadataIntact();
    }

    // ---- Remove ----

    [Fact]
    public void Remove_of_a_layer_with_children_is_LayerHasChildren_naming_the_child_and_Recurse()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer parent = store.Create(new LayerSpec { Names = ["parent"] });
        Layer child = store.Create(new LayerSpec { Names = ["kid"], Parent = "parent" });

        var error = Fails(LayerError.LayerHasChildren, () => store.Remove("parent", force: false, recurse: false));
        Assert.Contains("kid", error.Message);
        Assert.Contains("-Recurse", error.Message);
        Fails(LayerError.LayerHasChildren, () => store.Remove("parent", force: true, recurse: false));

        Assert.Equal([parent.Id, child.Id], store.List().Select(l => l.Id));
        Assert.Equal(new[] { parent.Id, child.Id }.Order(), s.TreeIds());
    }

    [Fact]
    public void Remove_with_Recurse_removes_the_descendants_deepest_first_and_their_trees()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer root = store.Create(new LayerSpec { Names = ["root"] });
        Layer mid = store.Create(new LayerSpec { Names = ["mid"], Parent = "root" });
        Layer top = store.Create(new LayerSpec { Names = ["top"], Parent = "mid" });
        Layer side = store.Create(new LayerSpec { Names = ["side"], Parent = "root" });
        Layer unrelated = store.Create(new LayerSpec { Names = ["unrelated"] });

        IReadOnlyList<string> removed = store.Remove("root", force: false, recurse: true);

        Assert.Equal(new[] { root.Id, mid.Id, top.Id, side.Id }.Order(), removed.Order());
        Assert.Equal(root.Id, removed[^1]);
        Assert.True(removed.ToList().IndexOf(top.Id) < removed.ToList().IndexOf(mid.Id), "top must go before its parent mid");
        foreach (string id in removed) Assert.False(Directory.Exists(s.TreeOf(id)), $"tree of {id} is still there");
        Assert.Equal([unrelated.Id], store.List().Select(l => l.Id));
        Assert.Equal([unrelated.Id], s.TreeIds());
        Assert.Equal([unrelated.Id], s.LayerRecords().Select(r => (string)r!["id"]!));
        s.AssertMetadataIntact();
    }

    [Fact]
    public void Remove_of_a_mounted_layer_is_LayerMounted_and_Force_unmounts_and_removes_it()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer parent = store.Create(new LayerSpec { Names = ["parent"] });
        Layer child = store.Create(new LayerSpec { Names = ["child"], Parent = "parent" });
        LayerMount mount = store.Mount("child", readOnly: false);
        store.Mount("child", readOnly: false);

        var error = Fails(LayerError.LayerMounted, () => store.Remove("child", force: false, recurse: false));
        Assert.Contains(mount.Path, error.Message);
        Assert.Contains("-Force", error.Message);
        // A mounted descendant blocks a recursive remove of its ancestor too, before anything is removed.
        Fails(LayerError.LayerMounted, () => store.Remove("parent", force: false, recurse: true));
        Assert.Equal(2, store.List().Count);
        Assert.True(Mounts.IsMountPoint(mount.Path));

        IReadOnlyList<string> removed = store.Remove("parent", force: true, recurse: true);

        Assert.Equal([child.Id, parent.Id], removed);
        Assert.False(Mounts.IsMountPoint(mount.Path));
        Assert.False(Directory.Exists(mount.Path));
        Assert.Empty(s.MountsUnder());
        Assert.Empty(store.List());
        Assert.Empty(s.TreeIds());
        Assert.Equal(0, store.Describe().MountedCount);
        s.AssertMetadataIntact();
    }

    // ---- Mount and Unmount ----

    [Fact]
    public void Mount_counts_users_and_the_last_Unmount_takes_the_mount_down()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer layer = store.Create(new LayerSpec { Names = ["web"] });

        LayerMount first = store.Mount("web", readOnly: false);
        LayerMount second = store.Mount(layer.Id, readOnly: false);

        Assert.Equal(s.Layout.MountPath(layer.Id), first.Path);
        Assert.Equal(first.Path, second.Path);
        Assert.Equal((1, 2), (first.MountCount, second.MountCount));
        Assert.True(Mounts.IsMountPoint(first.Path), $"{first.Path} is not a mount point");
        Assert.Single(s.MountsUnder());
        Assert.Equal(layer.Id, second.LayerId);
        Assert.False(second.ReadOnly);
        Layer mounted = store.Get("web");
        Assert.Equal((2, first.Path), (mounted.MountCount, mounted.MountPoint));
        Assert.Equal(1, store.Describe().MountedCount);

        // The mount is a real view of the layer's tree.
        File.WriteAllText(Path.Combine(first.Path, "written-through-mount"), "x");
        Assert.True(File.Exists(Path.Combine(s.TreeOf(layer.Id), "written-through-mount")));

        LayerMount once = store.Unmount("web", force: false);
        Assert.Equal(1, once.MountCount);
        Assert.True(Mounts.IsMountPoint(first.Path));
        Assert.Equal(1, store.Get("web").MountCount);

        LayerMount twice = store.Unmount("web", force: false);
        Assert.Equal(0, twice.MountCount);
        Assert.False(Mounts.IsMountPoint(first.Path));
        Assert.Empty(s.MountsUnder());
        Layer after = store.Get("web");
        Assert.Equal((0, null), (after.MountCount, after.MountPoint));
        Assert.Equal(0, store.Describe().MountedCount);
        Assert.Empty(s.Warnings);
        s.AssertMetadataIntact();
    }

    [Fact]
    public void Unmount_with_Force_drops_every_user_at_once()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["web"] });
        LayerMount mount = store.Mount("web", readOnly: false);
        store.Mount("web", readOnly: false);
        store.Mount("web", readOnly: false);

        Assert.Equal(0, store.Unmount("web", force: true).MountCount);

        Assert.False(Mounts.IsMountPoint(mount.Path));
        Assert.Equal(0, store.Get("web").MountCount);
    }

    [Fact]
    public void Mount_counts_are_shared_by_two_engines_on_one_store()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine one = s.Open();
        StoreEngine two = StoreEngine.Open(s.Options);
        one.Create(new LayerSpec { Names = ["web"] });

        LayerMount first = one.Mount("web", readOnly: false);
        LayerMount second = two.Mount("web", readOnly: false);

        Assert.Equal(first.Path, second.Path);
        Assert.Equal(2, second.MountCount);
        Assert.Equal(2, one.Get("web").MountCount);
        Assert.Single(s.MountsUnder());

        Assert.Equal(1, one.Unmount("web", force: false).MountCount);
        Assert.Equal(1, two.Get("web").MountCount);
        Assert.True(Mounts.IsMountPoint(first.Path));
        Assert.Equal(0, two.Unmount("web", force: false).MountCount);
        Assert.False(Mounts.IsMountPoint(first.Path));
        Fails(LayerError.LayerNotMounted, () => one.Unmount("web", force: false));
    }

    [Fact]
    public void Mount_counts_are_shared_when_the_root_is_spelled_with_a_trailing_slash()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine plain = s.Open();
        StoreEngine slashed = StoreEngine.Open(s.OptionsAt(s.Root + "/"));
        plain.Create(new LayerSpec { Names = ["web"] });

        LayerMount mount = plain.Mount("web", readOnly: false);

        Assert.Equal(1, slashed.Get("web").MountCount);
        Assert.Equal(2, slashed.Mount("web", readOnly: false).MountCount);
        Assert.Single(s.MountsUnder());
        Assert.Equal(1, plain.Unmount("web", force: false).MountCount);
        Assert.Equal(0, slashed.Unmount("web", force: false).MountCount);
        Assert.False(Mounts.IsMountPoint(mount.Path));
    }

    [Fact]
    public void A_read_only_mount_refuses_writes()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer layer = store.Create(new LayerSpec { Names = ["ro"] });
        File.WriteAllText(Path.Combine(s.TreeOf(layer.Id), "existing"), "original");

        LayerMount mount = store.Mount("ro", readOnly: true);

        Assert.True(mount.ReadOnly);
        Assert.True(Mounts.IsMountPoint(mount.Path));
        Assert.Equal("original", File.ReadAllText(Path.Combine(mount.Path, "existing")));
        AssertWriteRefused(() => File.WriteAllText(Path.Combine(mount.Path, "new-file"), "x"));
        AssertWriteRefused(() => File.WriteAllText(Path.Combine(mount.Path, "existing"), "changed"));
        AssertWriteRefused(() => Directory.CreateDirectory(Path.Combine(mount.Path, "new-dir")));
        Assert.Equal("original", File.ReadAllText(Path.Combine(s.TreeOf(layer.Id), "existing")));
        Assert.False(File.Exists(Path.Combine(s.TreeOf(layer.Id), "new-file")));

        // A second user asking for read-write cannot get it from a read-only mount.
        Fails(LayerError.LayerMounted, () => store.Mount("ro", readOnly: false));
        Assert.Equal(1, store.Get("ro").MountCount);
        store.Unmount("ro", force: false);
    }

    [Fact]
    public void A_layer_created_read_only_is_always_mounted_read_only()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["sealed"], ReadOnly = true });

        LayerMount mount = store.Mount("sealed", readOnly: false);

        Assert.True(mount.ReadOnly);
        AssertWriteRefused(() => File.WriteAllText(Path.Combine(mount.Path, "new-file"), "x"));
        store.Unmount("sealed", force: false);
    }

    [Fact]
    public void A_mount_removed_by_hand_is_noticed_warned_about_and_mounted_afresh()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer layer = store.Create(new LayerSpec { Names = ["web"] });
        LayerMount mount = store.Mount("web", readOnly: false);
        store.Mount("web", readOnly: false);

        Mounts.Unmount(mount.Path, lazy: false);

        Layer seen = store.Get("web");
        Assert.Equal((0, null), (seen.MountCount, seen.MountPoint));
        Assert.Equal(0, store.Describe().MountedCount);
        Assert.Empty(s.Warnings);

        LayerMount again = store.Mount("web", readOnly: false);

        string warning = Assert.Single(s.Warnings);
        Assert.Contains(layer.Id, warning);
        Assert.Equal(1, again.MountCount);
        Assert.True(Mounts.IsMountPoint(again.Path));
        Assert.Equal(1, store.Get("web").MountCount);
        Assert.Equal(0, store.Unmount("web", force: false).MountCount);
        Assert.False(Mounts.IsMountPoint(again.Path));
    }

    [Fact]
    public void A_vanished_mount_is_not_an_obstacle_to_Remove()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer layer = store.Create(new LayerSpec { Names = ["web"] });
        LayerMount mount = store.Mount("web", readOnly: false);
        Mounts.Unmount(mount.Path, lazy: false);

        Assert.Equal([layer.Id], store.Remove("web", force: false, recurse: false));

        Assert.Single(s.Warnings);
        Assert.Empty(s.TreeIds());
    }

    [Fact]
    public void UnmountPath_finds_the_layer_by_its_mount_path()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer layer = store.Create(new LayerSpec { Names = ["web"] });
        LayerMount mount = store.Mount("web", readOnly: false);
        store.Mount("web", readOnly: false);

        LayerMount once = store.UnmountPath(mount.Path + "/", force: false);
        Assert.Equal((layer.Id, 1), (once.LayerId, once.MountCount));
        Assert.True(Mounts.IsMountPoint(mount.Path));

        LayerMount last = store.UnmountPath(Path.Combine(mount.Path, "..", Path.GetFileName(mount.Path)), force: false);
        Assert.Equal(0, last.MountCount);
        Assert.False(Mounts.IsMountPoint(mount.Path));

        var error = Fails(LayerError.LayerNotMounted, () => store.UnmountPath(mount.Path, force: false));
        Assert.Contains(mount.Path, error.Message);
        Fails(LayerError.LayerNotMounted, () => store.UnmountPath(s.Location, force: true));
    }

    [Fact]
    public void Unmount_of_a_layer_that_is_not_mounted_is_LayerNotMounted()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer layer = store.Create(new LayerSpec { Names = ["idle"] });

        var error = Fails(LayerError.LayerNotMounted, () => store.Unmount("idle", force: false));

        Assert.Equal(layer.Id, error.Target);
        Assert.Contains("idle", error.Message);
        Fails(LayerError.LayerNotMounted, () => store.Unmount("idle", force: true));
    }

    [Fact]
    public void Unmount_of_a_busy_mount_is_LayerMounted_and_Force_detaches_it_lazily()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["busy"] });
        LayerMount mount = store.Mount("busy", readOnly: false);

        using (FileStream open = File.Create(Path.Combine(mount.Path, "held-open")))
        {
            var error = Fails(LayerError.LayerMounted, () => store.Unmount("busy", force: false));
            Assert.Contains("busy", error.Message);
            Assert.Contains("-Force", error.Message);
            Assert.True(Mounts.IsMountPoint(mount.Path));
            Assert.Equal(1, store.Get("busy").MountCount);

            Assert.Equal(0, store.Unmount("busy", force: true).MountCount);

            Assert.False(Mounts.IsMountPoint(mount.Path));
            Assert.Contains(s.Warnings, w => w.Contains("lazily") && w.Contains(mount.Path));
            open.Write("still writable"u8);
        }
        Assert.Equal(0, store.Get("busy").MountCount);
    }

    // ---- Interrupted operations ----

    [Fact]
    public void An_incomplete_record_written_by_hand_and_its_tree_are_removed_by_the_next_write()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer keep = store.Create(new LayerSpec { Names = ["keep"] });
        string ghost = IdStartingWith("dead");
        Directory.CreateDirectory(Path.Combine(s.TreeOf(ghost), "half", "copied"));
        File.WriteAllText(Path.Combine(s.TreeOf(ghost), "half", "copied", "file"), "partial");
        s.RewriteLayerRecords(layers => layers.Add(new JsonObject
        {
            ["id"] = ghost,
            ["names"] = new JsonArray("ghost"),
            ["parent"] = keep.Id,
            ["created"] = DateTime.UtcNow,
            ["readOnly"] = false,
            ["incomplete"] = true,
        }));

        // Readers never see it, and do not repair anything.
        Assert.Equal([keep.Id], store.List().Select(l => l.Id));
        Fails(LayerError.LayerNotFound, () => store.Get("ghost"));
        Assert.Empty(store.Children(keep.Id));
        Assert.Equal(1, store.Describe().LayerCount);
        Assert.Empty(s.Warnings);
        Assert.True(Directory.Exists(s.TreeOf(ghost)));

        // The next writer cleans it up first, so its name is free again.
        Layer reused = store.Create(new LayerSpec { Names = ["ghost"] });

        string warning = Assert.Single(s.Warnings);
        Assert.Contains(ghost, warning);
        Assert.Contains("interrupted", warning);
        Assert.False(Directory.Exists(s.TreeOf(ghost)));
        Assert.Equal(new[] { keep.Id, reused.Id }.Order(), s.TreeIds());
        Assert.DoesNotContain(s.LayerRecords(), r => (string?)r!["id"] == ghost);
        Assert.Equal(reused.Id, store.Get("ghost").Id);
        s.AssertMetadataIntact();
    }

    [Fact]
    public void A_layer_flagged_incomplete_is_unmounted_and_removed_by_the_next_write()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        Layer keep = store.Create(new LayerSpec { Names = ["keep"] });
        Layer half = store.Create(new LayerSpec { Names = ["half"], Parent = "keep" });
        LayerMount mount = store.Mount("half", readOnly: false);
        s.RewriteLayerRecords(layers =>
        {
            foreach (JsonNode? record in layers)
                if ((string?)record!["id"] == half.Id) record["incomplete"] = true;
        });

        store.Update("keep", ["still-here"], [], null);

        string warning = Assert.Single(s.Warnings);
        Assert.Contains(half.Id, warning);
        Assert.False(Mounts.IsMountPoint(mount.Path));
        Assert.Empty(s.MountsUnder());
        Assert.Equal([keep.Id], s.TreeIds());
        Assert.Equal([keep.Id], store.List().Select(l => l.Id));
        Assert.Equal(["keep", "still-here"], store.Get(keep.Id).Names);
        Assert.Equal(0, store.Describe().MountedCount);
        s.AssertMetadataIntact();

        // Cleaning up happens once.
        store.Create(new LayerSpec { Names = ["later"] });
        Assert.Single(s.Warnings);
    }

    // ---- Metadata ----

    [Fact]
    public void The_metadata_is_whole_JSON_after_every_operation_and_no_temporary_file_stays()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        var steps = new (string Name, Action Run, int Layers)[]
        {
            ("create base", () => store.Create(new LayerSpec { Names = ["base"], Metadata = "m" }), 1),
            ("create child", () => store.Create(new LayerSpec { Names = ["child"], Parent = "base" }), 2),
            ("create other", () => store.Create(new LayerSpec { Names = ["other"] }), 3),
            ("update", () => store.Update("child", ["renamed"], ["child"], "meta"), 3),
            ("mount", () => store.Mount("renamed", readOnly: false), 3),
            ("mount again", () => store.Mount("renamed", readOnly: false), 3),
            ("unmount", () => store.Unmount("renamed", force: false), 3),
            ("unmount by path", () => store.UnmountPath(store.Driver.MountPath(store.Get("renamed").Id), force: false), 3),
            ("remove", () => store.Remove("other", force: false, recurse: false), 2),
            ("mount for force remove", () => store.Mount("renamed", readOnly: true), 2),
            ("remove recursively", () => store.Remove("base", force: true, recurse: true), 0),
        };

        foreach (var step in steps)
        {
            step.Run();
            var failure = Record.Exception(s.AssertMetadataIntact);
            Assert.True(failure is null, $"after '{step.Name}': {failure?.Message}");
            Assert.True(step.Layers == s.LayerRecords().Count, $"after '{step.Name}': {s.LayerRecords().Count} records, expected {step.Layers}");
            Assert.All(s.LayerRecords(), r => Assert.False((bool)r!["incomplete"]!, $"after '{step.Name}': a record is left incomplete"));
        }
        Assert.Empty(s.TreeIds());
        Assert.Empty(s.MountsUnder());
    }

    [Fact]
    public void A_corrupt_layers_file_is_StoreCorrupt_naming_the_file()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["x"] });
        File.WriteAllText(s.LayersFile, "{\"layers\": [ {\"id\": ");

        var error = Fails(LayerError.StoreCorrupt, () => store.List());

        Assert.Contains(s.LayersFile, error.Message);
        Fails(LayerError.StoreCorrupt, () => store.Create(new LayerSpec { Names = ["y"] }));
    }

    // ---- helpers ----

    private static LayerToolsException Fails(LayerError expected, Action action)
    {
        var error = Assert.Throws<LayerToolsException>(action);
        Assert.True(expected == error.Error, $"expected {expected}, got {error.Error}: {error.Message}");
        return error;
    }

    private static LayerToolsException Fails(LayerError expected, Func<object?> action) => Fails(expected, () => { action(); });

    private static void AssertWriteRefused(Action write)
    {
        Exception? error = Record.Exception(write);
        Assert.True(error is IOException or UnauthorizedAccessException,
            $"a write on a read-only mount should fail with EROFS, got {(error is null ? "success" : error.GetType().Name + ": " + error.Message)}");
    }

    /// <summary>A valid 64-hex id that starts with <paramref name="prefix"/>.</summary>
    private static string IdStartingWith(string prefix) => prefix.PadRight(64, '0');

    [Fact]
    public void Temporary_metadata_files_left_by_a_dead_writer_are_removed_by_the_next_writer()
    {
        using var s = new ScratchStore(Driver);
        StoreEngine store = s.Open();
        store.Create(new LayerSpec { Names = ["web"] });
        string leftover = Path.Combine(s.Root, ".layers.json.4242.0123456789abcdef.tmp");
        File.WriteAllText(leftover, "{ half a wri");

        store.Create(new LayerSpec { Names = ["db"] });

        Assert.False(File.Exists(leftover));
        Assert.Equal(2, store.List().Count);
        s.AssertMetadataIntact();
    }
}

public sealed class VfsStoreEngineTests : StoreEngineTests
{
    protected override string Driver => "vfs";
}

public sealed class OverlayStoreEngineTests : StoreEngineTests
{
    protected override string Driver => "overlay";
}
