using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests;

/// <summary>
/// Removing a layer tree: whatever a root file system holds goes, at any depth; nothing outside it is
/// touched through a symlink; a mount inside it stops the removal before anything in the mount goes.
/// </summary>
public sealed class TreeRemovalTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly string _tree;
    private readonly string _outside;

    public TreeRemovalTests()
    {
        _tree = _directory.Combine("tree");
        _outside = _directory.Combine("outside");
        Directory.CreateDirectory(_tree);
        Directory.CreateDirectory(_outside);
        File.WriteAllText(Path.Join(_outside, "keep"), "outside the tree\n");
    }

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void A_tree_with_locked_directories_nodes_links_and_symlinks_out_of_it_goes_and_what_they_point_at_stays()
    {
        Directory.CreateDirectory(Path.Join(_tree, "etc/ssl"));
        File.WriteAllText(Path.Join(_tree, "etc/ssl/cert"), "x");
        File.WriteAllText(Path.Join(_tree, "etc/hostname"), "h\n");
        Fs.Link(Path.Join(_tree, "etc/hostname"), Path.Join(_tree, "hostname-link"));
        Fs.Mknod(Path.Join(_tree, "null"), FileKind.CharDevice, 0x1B6, 1, 3);
        Fs.Mknod(Path.Join(_tree, "fifo"), FileKind.Fifo, 0x1A4, 0, 0);
        Fs.Symlink(_outside, Path.Join(_tree, "escape"));
        Fs.Symlink(Path.Join(_outside, "keep"), Path.Join(_tree, "etc/ssl/escape-file"));
        // overlayfs leaves work/work at mode 000; a read-only root file system has 0555 directories.
        Directory.CreateDirectory(Path.Join(_tree, "work/work/inner"));
        File.WriteAllText(Path.Join(_tree, "work/work/inner/f"), "");
        Fs.Chmod(Path.Join(_tree, "work/work"), 0);
        Fs.Chmod(Path.Join(_tree, "etc/ssl"), 0x16D /* 0555 */);
        Fs.Chmod(_tree, 0x16D);

        TreeRemoval.Remove(_tree);

        Assert.False(Fs.TryLstat(_tree, out _));
        Assert.Equal("outside the tree\n", File.ReadAllText(Path.Join(_outside, "keep")));
        Assert.Equal(["keep"], DirectoryListing.Names(_outside));
    }

    [Fact]
    public void A_tree_deeper_than_PATH_MAX_goes()
    {
        MakeDeepTree(_tree, "component");

        TreeRemoval.Remove(_tree);

        Assert.False(Fs.TryLstat(_tree, out _));
    }

    [Fact]
    public void An_apply_removes_a_directory_deeper_than_PATH_MAX_in_place()
    {
        MakeDeepTree(_tree, "component");
        File.WriteAllText(Path.Join(_tree, "stays"), "");

        using (var tree = new BeneathRoot(_tree))
            tree.Remove("component");

        Assert.Equal(["stays"], DirectoryListing.Names(_tree));
    }

    /// <summary>1,500 levels of <paramref name="name"/> with a file at the bottom: with 9-character names a path of 15,000 bytes, which no path-based call accepts.</summary>
    private static void MakeDeepTree(string root, string name)
    {
        using var tree = new BeneathRoot(root);
        string path = "";
        for (int level = 0; level < 1500; level++)
        {
            tree.TryMakeDirectory(name, 0x1ED);
            path = path.Length == 0 ? name : path + "/" + name;
            Assert.True(tree.TryEnter(path, out _));
        }
        Assert.True(tree.TryCreateFile("bottom", 0x1A4, out BeneathRoot.OpenedFile file));
        file.Dispose();
    }

    [Fact]
    public void A_mount_inside_the_tree_stops_the_removal_and_keeps_what_it_holds()
    {
        string mountPoint = Path.Join(_tree, "proc-like");
        using var mount = new RamfsMount(mountPoint);
        File.WriteAllText(Path.Join(mountPoint, "inside"), "in the mount\n");

        var refused = Assert.Throws<IOException>(() => TreeRemoval.Remove(_tree));

        Assert.Contains(mountPoint, refused.Message);
        Assert.Contains("mount point", refused.Message);
        Assert.Equal("in the mount\n", File.ReadAllText(Path.Join(mountPoint, "inside")));
    }

    [Fact]
    public void A_missing_tree_is_nothing_to_do_and_a_file_in_its_place_is_removed()
    {
        TreeRemoval.Remove(_directory.Combine("never-made"));

        string file = _directory.Combine("a-file");
        File.WriteAllText(file, "");
        TreeRemoval.Remove(file);
        Assert.False(File.Exists(file));
    }
}
