using System.Diagnostics;
using LayerTools.Drivers.Overlay;
using LayerTools.Native;
using Xunit;
using Xunit.Abstractions;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Overlay;

/// <summary>The overlay driver on its own: layout, views through real overlay mounts, long chains, removal.</summary>
public sealed class OverlayDriverTests(ITestOutputHelper output) : IDisposable
{
    private readonly OverlayScratch _scratch = new();

    private OverlayDriver Driver => _scratch.Driver;

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Creating_a_child_copies_nothing_and_records_its_ancestors_nearest_first()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId(), grandchild = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        WriteThrough(base_, tree =>
        {
            File.WriteAllText(Path.Join(tree, "big"), new string('x', 1 << 20));
            Directory.CreateDirectory(Path.Join(tree, "dir/sub"));
        });

        Driver.Create(child, base_, null);
        Driver.Create(grandchild, child, null);

        Assert.Empty(Directory.EnumerateFileSystemEntries(_scratch.Diff(child)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_scratch.Diff(grandchild)));
        string baseLink = _scratch.LayerFile(base_, "link"), childLink = _scratch.LayerFile(child, "link");
        foreach (string id in new[] { base_, child, grandchild })
        {
            string link = _scratch.LayerFile(id, "link");
            Assert.Matches("^[A-Z0-9]{26}$", link);
            Assert.Equal($"../{id}/diff", Fs.ReadLink(Path.Combine(_scratch.Home, "l", link)));
            foreach (string directory in new[] { "diff", "work", "merged" })
                Assert.True(Directory.Exists(Path.Combine(_scratch.Home, id, directory)), $"{id}/{directory} missing");
        }
        Assert.Equal("", _scratch.LayerFile(base_, "lower"));
        Assert.Equal($"l/{baseLink}", _scratch.LayerFile(child, "lower"));
        Assert.Equal($"l/{childLink}:l/{baseLink}", _scratch.LayerFile(grandchild, "lower"));
        Assert.True(Driver.Exists(grandchild));
        Assert.False(Driver.Exists(OverlayScratch.NewId()));
    }

    [Fact]
    public void Each_layer_sees_its_changes_over_its_ancestors_and_a_deletion_is_a_whiteout_in_its_diff()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId(), grandchild = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        WriteThrough(base_, tree =>
        {
            File.WriteAllText(Path.Join(tree, "keep.txt"), "base\n");
            File.WriteAllText(Path.Join(tree, "gone.txt"), "deleted in the child\n");
            Directory.CreateDirectory(Path.Join(tree, "dir"));
            File.WriteAllText(Path.Join(tree, "dir/inner.txt"), "deleted with its directory in the grandchild\n");
        });
        Driver.Create(child, base_, null);
        WriteThrough(child, tree =>
        {
            File.Delete(Path.Join(tree, "gone.txt"));
            File.WriteAllText(Path.Join(tree, "keep.txt"), "child\n");
            File.WriteAllText(Path.Join(tree, "child.txt"), "added by the child\n");
        });
        Driver.Create(grandchild, child, null);
        WriteThrough(grandchild, tree =>
        {
            Directory.Delete(Path.Join(tree, "dir"), recursive: true);
            File.WriteAllText(Path.Join(tree, "grandchild.txt"), "added by the grandchild\n");
        });

        AssertWhiteout(Path.Join(_scratch.Diff(child), "gone.txt"));
        AssertWhiteout(Path.Join(_scratch.Diff(grandchild), "dir"));
        Assert.Equal("deleted in the child\n", File.ReadAllText(Path.Join(_scratch.Diff(base_), "gone.txt")));
        Assert.Equal(["child.txt", "gone.txt", "keep.txt"], Names(_scratch.Diff(child)));

        Assert.Equal(["dir", "dir/inner.txt", "gone.txt", "keep.txt"], View(base_));
        Assert.Equal(["child.txt", "dir", "dir/inner.txt", "keep.txt"], View(child));
        Assert.Equal(["child.txt", "grandchild.txt", "keep.txt"], View(grandchild));
        ReadThrough(base_, tree => Assert.Equal("base\n", File.ReadAllText(Path.Join(tree, "keep.txt"))));
        ReadThrough(grandchild, tree => Assert.Equal("child\n", File.ReadAllText(Path.Join(tree, "keep.txt"))));
        Assert.Empty(_scratch.MountsUnder());
    }

    [Fact]
    public void A_read_write_mount_stacks_the_ancestors_under_the_diff_with_fixed_options()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        Driver.Create(child, base_, null);

        string merged = Driver.Mount(child, readOnly: false);

        Assert.Equal(Driver.MountPath(child), merged);
        Assert.Equal(Path.Combine(_scratch.Home, child, "merged"), merged);
        Assert.Equal("overlay", OverlayScratch.FilesystemType(merged));
        string options = OverlayScratch.SuperOptions(merged);
        Assert.StartsWith("rw,", options);
        Assert.Contains($"lowerdir={_scratch.Home}/l/{_scratch.LayerFile(base_, "link")},", options);
        Assert.Contains($"upperdir={_scratch.Diff(child)},", options);
        Assert.Contains($"workdir={Path.Combine(_scratch.Home, child, "work")}", options);
        // mountinfo shows only options that differ from the kernel's defaults; none of these may be on.
        foreach (string feature in new[] { "index=on", "redirect_dir=on", "redirect_dir=follow", "metacopy=on" })
            Assert.DoesNotContain(feature, options);
        File.WriteAllText(Path.Join(merged, "new"), "lands in the diff\n");
        Assert.True(File.Exists(Path.Join(_scratch.Diff(child), "new")));

        Driver.Unmount(child, lazy: false);
        Assert.False(Mounts.IsMountPoint(merged));
        Driver.Unmount(child, lazy: false);
    }

    [Fact]
    public void A_read_only_mount_has_no_upper_directory_lists_the_layer_first_and_refuses_writes()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        WriteThrough(base_, tree => File.WriteAllText(Path.Join(tree, "file"), "base\n"));
        Driver.Create(child, base_, null);
        WriteThrough(child, tree => File.WriteAllText(Path.Join(tree, "file"), "child\n"));

        string merged = Driver.Mount(child, readOnly: true);
        string options = OverlayScratch.SuperOptions(merged);
        Assert.StartsWith("ro,", options);
        Assert.DoesNotContain("upperdir", options);
        Assert.DoesNotContain("workdir", options);
        string l = _scratch.Home + "/l/";
        Assert.Contains($"lowerdir={l}{_scratch.LayerFile(child, "link")}:{l}{_scratch.LayerFile(base_, "link")},", options);
        Assert.Equal("child\n", File.ReadAllText(Path.Join(merged, "file")));
        AssertWriteRefused(() => File.WriteAllText(Path.Join(merged, "file"), "changed\n"));
        AssertWriteRefused(() => File.WriteAllText(Path.Join(merged, "new"), "new\n"));
        Driver.Unmount(child, lazy: false);

        // A base layer has no ancestor: an empty directory is its second lower layer.
        string baseMerged = Driver.Mount(base_, readOnly: true);
        Assert.Contains($"lowerdir={l}{_scratch.LayerFile(base_, "link")}:{_scratch.Home}/empty,", OverlayScratch.SuperOptions(baseMerged));
        Assert.Equal("base\n", File.ReadAllText(Path.Join(baseMerged, "file")));
        AssertWriteRefused(() => File.WriteAllText(Path.Join(baseMerged, "new"), "new\n"));
        Driver.Unmount(base_, lazy: false);
        Assert.Empty(_scratch.MountsUnder());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_scratch.Home, "empty")));
    }

    [Fact]
    public void A_fresh_child_looks_exactly_like_its_parent_root_attributes_included()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        WriteThrough(base_, tree => Build(tree, NetBindServiceCapability()));
        Driver.Create(child, base_, null);

        string parentView = Driver.Mount(base_, readOnly: true);
        string childView = Driver.Mount(child, readOnly: false);
        try
        {
            Assert.Empty(TreeSnapshot.Take(childView).DifferencesFrom(TreeSnapshot.Take(parentView)));
            // The fixture's own trusted.overlay.opaque is data: stored escaped, shown as written.
            Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(childView, "a"), "trusted.overlay.opaque"));
            Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(_scratch.Diff(base_), "a"), "trusted.overlay.overlay.opaque"));
        }
        finally
        {
            Driver.Unmount(base_, lazy: true);
            Driver.Unmount(child, lazy: true);
        }
    }

    [Fact]
    public void A_chain_of_200_layers_mounts_through_the_new_mount_API_and_shows_every_layer()
    {
        const int depth = 200;
        var clock = Stopwatch.StartNew();
        var ids = new List<string>();
        for (int i = 0; i < depth; i++)
        {
            string id = OverlayScratch.NewId();
            Driver.Create(id, i == 0 ? null : ids[^1], null);
            ids.Add(id);
            File.WriteAllText(Path.Join(_scratch.Diff(id), $"file-{i:D3}"), $"layer {i}\n");
        }
        output.WriteLine($"created {depth} layers in {clock.ElapsedMilliseconds} ms");
        string top = ids[^1];
        Assert.Equal(depth - 1, _scratch.LayerFile(top, "lower").Split(':').Length);

        clock.Restart();
        string merged = Driver.Mount(top, readOnly: true);
        output.WriteLine($"mounted the top read-only in {clock.ElapsedMilliseconds} ms");
        string options = OverlayScratch.SuperOptions(merged);
        Assert.StartsWith("ro,", options);
        Assert.Contains("lowerdir+=", options);
        Assert.DoesNotContain("upperdir", options);
        Assert.Equal(Enumerable.Range(0, depth).Select(i => $"file-{i:D3}"), Names(merged));
        Assert.Equal("layer 0\n", File.ReadAllText(Path.Join(merged, "file-000")));
        Assert.Equal($"layer {depth - 1}\n", File.ReadAllText(Path.Join(merged, $"file-{depth - 1:D3}")));
        Driver.Unmount(top, lazy: false);

        merged = Driver.Mount(top, readOnly: false);
        Assert.Contains($"upperdir={_scratch.Diff(top)}", OverlayScratch.SuperOptions(merged));
        File.Delete(Path.Join(merged, "file-000"));
        File.WriteAllText(Path.Join(merged, "file-new"), "written on top of 199 layers\n");
        Assert.Equal(depth, Names(merged).Count);
        Driver.Unmount(top, lazy: false);

        Assert.Empty(_scratch.MountsUnder());
        AssertWhiteout(Path.Join(_scratch.Diff(top), "file-000"));
        Assert.True(File.Exists(Path.Join(_scratch.Diff(ids[0]), "file-000")));
    }

    [Fact]
    public void A_chain_deeper_than_overlayfs_can_stack_is_refused_when_the_layer_is_made()
    {
        string parent = OverlayScratch.NewId();
        Driver.Create(parent, null, null);
        for (int i = 1; i < OverlayDriver.MaxAncestors + 1; i++)
        {
            string id = OverlayScratch.NewId();
            Driver.Create(id, parent, null);
            parent = id;
        }

        string tooDeep = OverlayScratch.NewId();
        var error = Assert.Throws<ArgumentException>(() => Driver.Create(tooDeep, parent, null));
        Assert.Contains("499 ancestors", error.Message);
        Assert.False(Driver.Exists(tooDeep));

        // The deepest allowed layer still mounts read-only: itself and 499 ancestors are overlayfs' 500.
        string merged = Driver.Mount(parent, readOnly: true);
        Assert.Empty(Directory.EnumerateFileSystemEntries(merged));
        Driver.Unmount(parent, lazy: false);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(60)]
    public void A_home_whose_path_has_commas_colons_and_backslashes_mounts_either_way(int depth)
    {
        using var odd = new OverlayScratch(@"odd,name:with\backslash");
        var ids = new List<string>();
        for (int i = 0; i < depth; i++)
        {
            string id = OverlayScratch.NewId();
            odd.Driver.Create(id, i == 0 ? null : ids[^1], null);
            ids.Add(id);
            File.WriteAllText(Path.Join(odd.Diff(id), $"file-{i:D3}"), "");
        }

        string merged = odd.Driver.Mount(ids[^1], readOnly: false);
        Assert.Equal(depth, Directory.EnumerateFiles(merged).Count());
        File.WriteAllText(Path.Join(merged, "written"), "");
        Assert.True(File.Exists(Path.Join(odd.Diff(ids[^1]), "written")));
        odd.Driver.Unmount(ids[^1], lazy: false);

        merged = odd.Driver.Mount(ids[^1], readOnly: true);
        Assert.Equal(depth + 1, Directory.EnumerateFiles(merged).Count());
        odd.Driver.Unmount(ids[^1], lazy: false);
        Assert.Empty(odd.MountsUnder());
    }

    [Fact]
    public void Remove_takes_down_the_mount_the_work_directory_and_the_short_link()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        WriteThrough(base_, tree => File.WriteAllText(Path.Join(tree, "file"), "base\n"));
        Driver.Create(child, base_, null);
        string merged = Driver.Mount(child, readOnly: false);
        File.Delete(Path.Join(merged, "file"));
        // overlayfs keeps a mode-000 directory in the work directory.
        Assert.Equal(0u, Fs.Lstat(Path.Combine(_scratch.Home, child, "work", "work")).Permissions);
        string link = Path.Combine(_scratch.Home, "l", _scratch.LayerFile(child, "link"));

        Driver.Remove(child);

        Assert.False(Driver.Exists(child));
        Assert.False(Directory.Exists(Path.Combine(_scratch.Home, child)));
        Assert.False(Fs.TryLstat(link, out _));
        Assert.Empty(_scratch.MountsUnder());
        Driver.Remove(child);
        Assert.Equal([_scratch.LayerFile(base_, "link")], Names(Path.Combine(_scratch.Home, "l")));
        Assert.Equal("base\n", File.ReadAllText(Path.Join(_scratch.Diff(base_), "file")));
    }

    [Fact]
    public void A_parent_mounted_read_write_under_a_mounted_child_is_allowed_and_Cleanup_unmounts_both()
    {
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId();
        Driver.Create(base_, null, null);
        Driver.Create(child, base_, null);
        // With index=off a diff may be one mount's upper directory while it is a lower layer of another.
        Driver.Mount(base_, readOnly: false);
        Driver.Mount(child, readOnly: false);
        Assert.Equal(2, _scratch.MountsUnder().Count);

        Driver.Cleanup();

        Assert.Empty(_scratch.MountsUnder());
        Assert.True(Driver.Exists(base_) && Driver.Exists(child));
    }

    [Fact]
    public void Status_names_the_backing_file_system_and_how_long_chains_are_mounted()
    {
        IReadOnlyDictionary<string, string> status = Driver.Status();

        Assert.Equal("ext4", status["Backing Filesystem"]);
        Assert.Equal("true", status["Supports d_type"]);
        Assert.Equal("true", status["Native Overlay Diff"]);
        Assert.Equal("false", status["Using metacopy"]);
        Assert.Equal("index=off,redirect_dir=off,metacopy=off", status["Mount Options"]);
        Assert.StartsWith("new mount API", status["Long Chains"]);
        Assert.Equal(_scratch.Home, status["Layers"]);
    }

    [Fact]
    public void The_support_check_passes_on_ext4_and_leaves_no_probe_behind()
    {
        string home = Path.Combine(_scratch.Location, "fresh", "store", "overlay");

        Assert.Null(OverlayDriver.CheckSupported(home));

        Assert.Empty(Directory.EnumerateFileSystemEntries(home));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(home)!));
        Assert.Empty(_scratch.MountsUnder());
    }

    [Fact]
    public void The_support_check_passes_on_tmpfs_and_layers_work_there()
    {
        string tmpfs = Path.Combine(_scratch.Location, "tmpfs");
        Directory.CreateDirectory(tmpfs);
        MountApi.Mount("tmpfs", "tmpfs", tmpfs, "size=16m", readOnly: false);
        string home = Path.Combine(tmpfs, "store", "overlay");

        Assert.Null(OverlayDriver.CheckSupported(home));

        var driver = new OverlayDriver(home);
        Assert.Equal("tmpfs", driver.Status()["Backing Filesystem"]);
        string base_ = OverlayScratch.NewId(), child = OverlayScratch.NewId();
        driver.Create(base_, null, null);
        File.WriteAllText(Path.Join(home, base_, "diff", "gone"), "");
        driver.Create(child, base_, null);
        string merged = driver.Mount(child, readOnly: false);
        File.Delete(Path.Join(merged, "gone"));
        driver.Unmount(child, lazy: false);
        AssertWhiteout(Path.Join(home, child, "diff", "gone"));
    }

    [Fact]
    public void The_support_check_refuses_overlay_on_overlay_and_leaves_nothing_behind()
    {
        string outer = Path.Combine(_scratch.Location, "outer");
        foreach (string directory in new[] { "lower", "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(outer, directory));
        new OverlayMount([Path.Combine(outer, "lower")], Path.Combine(outer, "upper"), Path.Combine(outer, "work"))
            .MountAt(Path.Combine(outer, "merged"), readOnly: false);
        string home = Path.Combine(outer, "merged", "store", "overlay");

        string? reason = OverlayDriver.CheckSupported(home);

        Assert.NotNull(reason);
        Assert.Contains("overlay file system", reason);
        Assert.Contains(Path.Combine(outer, "merged"), reason);
        Assert.False(Directory.Exists(Path.Combine(outer, "merged", "store")));
    }

    private void WriteThrough(string id, Action<string> write)
    {
        string tree = Driver.Mount(id, readOnly: false);
        try { write(tree); }
        finally { Driver.Unmount(id, lazy: false); }
    }

    private void ReadThrough(string id, Action<string> read)
    {
        string tree = Driver.Mount(id, readOnly: true);
        try { read(tree); }
        finally { Driver.Unmount(id, lazy: false); }
    }

    /// <summary>Every path in the layer's read-only view, relative and sorted.</summary>
    private List<string> View(string id)
    {
        List<string> paths = [];
        ReadThrough(id, tree => paths = Directory.EnumerateFileSystemEntries(tree, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(tree, p)).Order(StringComparer.Ordinal).ToList());
        return paths;
    }

    private static List<string> Names(string directory) =>
        DirectoryListing.Names(directory).Order(StringComparer.Ordinal).ToList();

    /// <summary>overlayfs records a deletion as a 0/0 character device, or (xattr form) as an empty file marked trusted.overlay.whiteout.</summary>
    private static void AssertWhiteout(string path)
    {
        FileStatus status = Fs.Lstat(path);
        bool device = status is { Kind: FileKind.CharDevice, RdevMajor: 0, RdevMinor: 0 };
        bool xattr = status.Kind == FileKind.Regular && Xattrs.Get(path, "trusted.overlay.whiteout") is not null;
        Assert.True(device || xattr, $"{path} is a {status.Kind} ({status.RdevMajor}:{status.RdevMinor}), not a whiteout");
    }

    private static void AssertWriteRefused(Action write)
    {
        Exception? error = Record.Exception(write);
        Assert.True(error is IOException or UnauthorizedAccessException,
            $"a write on a read-only mount should fail with EROFS, got {(error is null ? "success" : error.GetType().Name + ": " + error.Message)}");
    }
}
