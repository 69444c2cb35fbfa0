using System.Text;
using LayerTools.Changes;
using LayerTools.Drivers.Vfs;
using LayerTools.Native;
using Xunit;

using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Changes;

public sealed class TreeComparerTests
{
    [Fact]
    public void An_exact_copy_has_no_changes()
    {
        using var temp = new TempDirectory();
        var (parent, child) = ParentAndCopy(temp);

        Assert.Empty(TreeComparer.Compare(parent, child));
        Assert.Empty(TreeComparer.Compare(child, parent));
    }

    [Fact]
    public void Every_kind_of_change_is_listed_once_in_path_order()
    {
        using var temp = new TempDirectory();
        var (parent, child) = ParentAndCopy(temp);
        string C(string relative) => Path.Join(child, relative);

        // Added: a file, a hardlink to an existing inode, a symlink, a file with an xattr, a directory tree.
        File.WriteAllText(C("usr/bin/new-tool"), "new\n");
        Fs.Link(C("links1/h1"), C("usr/bin/h4"));
        Fs.Symlink("su", C("usr/bin/sh"));
        File.WriteAllText(C("usr/bin/tagged"), "tagged\n");
        Xattrs.Set(C("usr/bin/tagged"), "user.origin", "test"u8.ToArray());
        Directory.CreateDirectory(C("opt/app"));
        File.WriteAllText(C("opt/app/run.sh"), "#!/bin/sh\n");
        File.WriteAllText(C("opt/.keep"), "");

        // Deleted: a file, and a directory with a subtree (listed as its top path only).
        File.Delete(C("empty"));
        Directory.Delete(C("a"), recursive: true);

        // Deleted and re-created with other content and a fresh (so different) mode, group and mtime.
        Directory.Delete(C("shared"), recursive: true);
        Fs.Mkdir(C("shared"), Octal("755"));
        File.WriteAllText(C("shared/notes"), "new notes\n");

        File.AppendAllText(C("hello.txt"), "longer now\n");
        File.WriteAllText(C("private/secret"), "HUSH\n");
        Fs.Chmod(C("tmp"), Octal("777"));
        Fs.Lchown(C("ünïcødé name"), 1000, 1000);
        Xattrs.Set(C("link-to-hello"), "trusted.link", [1, 2, 4]);
        // user.* attributes are for regular files and directories only.
        Xattrs.Set(C("dev/socket"), "trusted.note", [0]);
        FileStatus epoch = Fs.Lstat(C("times/epoch.txt"));
        Fs.SetTimes(C("times/epoch.txt"), epoch.Atime, epoch.Mtime with { Nanoseconds = epoch.Mtime.Nanoseconds + 1 });

        // File to directory, and directory (holding one of the hardlinks) to file.
        File.Delete(C("times/future.txt"));
        Fs.Mkdir(C("times/future.txt"), Octal("755"));
        File.WriteAllText(C("times/future.txt/inside"), "");
        Directory.Delete(C("links2"), recursive: true);
        File.WriteAllText(C("links2"), "now a file\n");

        // Same length, owner, mode and times: only the target tells these apart.
        FileStatus dangling = Fs.Lstat(C("dangling"));
        Fs.Unlink(C("dangling"));
        Fs.Symlink("/nonexistent/tarGET", C("dangling"));
        Fs.Lchown(C("dangling"), dangling.Uid, dangling.Gid);
        Fs.SetTimes(C("dangling"), dangling.Atime, dangling.Mtime);

        // Only the minor number differs; /dev itself gets its times back, so it is not a change.
        FileStatus devDirectory = Fs.Lstat(C("dev"));
        FileStatus nullDevice = Fs.Lstat(C("dev/null"));
        Fs.Unlink(C("dev/null"));
        Fs.Mknod(C("dev/null"), FileKind.CharDevice, nullDevice.Permissions, 1, 5);
        Fs.Chmod(C("dev/null"), nullDevice.Permissions);
        Fs.SetTimes(C("dev/null"), nullDevice.Atime, nullDevice.Mtime);
        Fs.SetTimes(C("dev"), devDirectory.Atime, devDirectory.Mtime);

        IReadOnlyList<LayerChange> changes = TreeComparer.Compare(parent, child);

        Assert.Equal(
        [
            "Modified /",
            "Deleted /a",
            "Modified /dangling",
            "Modified /dev/null",
            "Modified /dev/socket",
            "Deleted /empty",
            "Modified /hello.txt",
            "Modified /link-to-hello",
            // /links1/h1 lost a name and gained one: its link count is not a change of the name /links1/h1.
            "Modified /links2",
            "Added /opt",
            "Added /opt/.keep",
            "Added /opt/app",
            "Added /opt/app/run.sh",
            "Modified /private/secret",
            "Modified /shared",
            "Added /shared/notes",
            "Deleted /shared/readme",
            "Modified /times",
            "Modified /times/epoch.txt",
            "Modified /times/future.txt",
            "Added /times/future.txt/inside",
            "Modified /tmp",
            "Modified /usr/bin",
            "Added /usr/bin/h4",
            "Added /usr/bin/new-tool",
            "Added /usr/bin/sh",
            "Added /usr/bin/tagged",
            "Modified /ünïcødé name",
        ], changes.Select(c => c.ToString()));
        Assert.Equal(changes, TreeComparer.Enumerate(parent, child), new ChangeEquality());
    }

    [Fact]
    public void A_directory_is_modified_only_by_its_own_metadata()
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        Fs.Mkdir(parent, Octal("755"));
        Fs.Mkdir(Path.Join(parent, "edited"), Octal("755"));
        File.WriteAllText(Path.Join(parent, "edited/file"), "before\n");
        Fs.Mkdir(Path.Join(parent, "recreated"), Octal("750"));
        File.WriteAllText(Path.Join(parent, "recreated/old"), "old\n");
        File.WriteAllText(Path.Join(parent, "recreated/kept"), "kept\n");
        Fs.SetTimes(Path.Join(parent, "recreated/kept"), OldAtime, In1970);
        TreeCopy.Copy(parent, child, progress: null);
        FileStatus edited = Fs.Lstat(Path.Join(child, "edited"));
        FileStatus recreated = Fs.Lstat(Path.Join(child, "recreated"));
        FileStatus root = Fs.Lstat(child);

        // Replaced by rename, as editors do: the directory's mtime moves, then is put back.
        File.WriteAllText(Path.Join(child, "edited/file.new"), "after, and longer\n");
        File.Move(Path.Join(child, "edited/file.new"), Path.Join(child, "edited/file"), overwrite: true);
        Fs.SetTimes(Path.Join(child, "edited"), edited.Atime, edited.Mtime);

        // Removed and made again with the same mode, owner and times: from the trees alone this cannot be
        // told from editing the directory's children in place, so the directory is not a change, and the
        // children are compared one by one. Applying the result (delete /old, add /new) gives the same tree
        // as replacing the directory would.
        Directory.Delete(Path.Join(child, "recreated"), recursive: true);
        Fs.Mkdir(Path.Join(child, "recreated"), Octal("750"));
        File.WriteAllText(Path.Join(child, "recreated/new"), "new\n");
        File.WriteAllText(Path.Join(child, "recreated/kept"), "kept\n");
        Fs.SetTimes(Path.Join(child, "recreated/kept"), OldAtime, In1970);
        Fs.SetTimes(Path.Join(child, "recreated"), recreated.Atime, recreated.Mtime);
        Fs.SetTimes(child, root.Atime, root.Mtime);

        Assert.Equal(
            ["Modified /edited/file", "Added /recreated/new", "Deleted /recreated/old"],
            TreeComparer.Compare(parent, child).Select(c => c.ToString()));
    }

    [Fact]
    public void Xattrs_compare_as_a_set_of_names_and_raw_values()
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        Fs.Mkdir(parent, Octal("755"));
        foreach (string name in new[] { "added", "changed", "empty-added", "removed", "reordered" })
            File.WriteAllText(Path.Join(parent, name), "");
        Xattrs.Set(Path.Join(parent, "changed"), "user.a", [1, 2, 3]);
        Xattrs.Set(Path.Join(parent, "removed"), "user.a", [1]);
        Xattrs.Set(Path.Join(parent, "removed"), "user.b", [2]);
        Xattrs.Set(Path.Join(parent, "reordered"), "user.a", [1]);
        Xattrs.Set(Path.Join(parent, "reordered"), "user.b", [2]);
        TreeCopy.Copy(parent, child, progress: null);

        Xattrs.Set(Path.Join(child, "added"), "user.new", [0]);
        Xattrs.Set(Path.Join(child, "changed"), "user.a", [1, 2, 4]);
        Xattrs.Set(Path.Join(child, "empty-added"), "user.empty", []);
        Xattrs.Remove(Path.Join(child, "removed"), "user.b");
        // The kernel may list these in another order than the parent's; that is not a change.
        Xattrs.Remove(Path.Join(child, "reordered"), "user.a");
        Xattrs.Remove(Path.Join(child, "reordered"), "user.b");
        Xattrs.Set(Path.Join(child, "reordered"), "user.b", [2]);
        Xattrs.Set(Path.Join(child, "reordered"), "user.a", [1]);

        Assert.Equal(
            ["Modified /added", "Modified /changed", "Modified /empty-added", "Modified /removed"],
            TreeComparer.Compare(parent, child).Select(c => c.ToString()));
    }

    [Fact]
    public void Xattrs_are_compared_when_one_side_has_none_and_when_both_have_many()
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        Fs.Mkdir(parent, Octal("755"));
        // Long names: the list of names alone takes kilobytes, more than a small buffer would hold.
        string[] names = [.. Enumerable.Range(0, 14).Select(i => $"user.{i:D2}-" + new string('n', 190))];
        foreach (string name in new[] { "cleared", "many", "many-one-changed", "none" })
            File.WriteAllText(Path.Join(parent, name), "");
        Xattrs.Set(Path.Join(parent, "cleared"), "user.only", [1]);
        foreach (string file in new[] { "many", "many-one-changed" })
        {
            foreach (string name in names) Xattrs.Set(Path.Join(parent, file), name, [(byte)name[5], 7]);
        }
        TreeCopy.Copy(parent, child, progress: null);

        Xattrs.Remove(Path.Join(child, "cleared"), "user.only");
        Xattrs.Set(Path.Join(child, "many-one-changed"), names[^1], [(byte)names[^1][5], 8]);

        Assert.Equal(
            ["Modified /cleared", "Modified /many-one-changed"],
            TreeComparer.Compare(parent, child).Select(c => c.ToString()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Random_trees_give_what_comparing_their_snapshots_gives(int seed)
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        var random = new Random(seed);
        BuildRandomTree(parent, random);
        TreeCopy.Copy(parent, child, progress: null);
        ChangeRandomly(child, random);
        TreeSnapshot before = TreeSnapshot.Take(parent);
        TreeSnapshot after = TreeSnapshot.Take(child);

        Assert.Equal(ReferenceChanges(before, after), TreeComparer.Compare(parent, child).Select(c => c.ToString()));
        Assert.Equal(ReferenceChanges(after, before), TreeComparer.Compare(child, parent).Select(c => c.ToString()));
        Assert.Equal(
            after.Entries.Keys.Order(LayerPathComparer.Instance).Select(p => $"Added {p}"),
            TreeComparer.Compare(null, child).Select(c => c.ToString()));
    }

    [Fact]
    public void A_walk_stopped_early_lets_go_of_the_trees_at_once()
    {
        using var temp = new TempDirectory();
        // On a ramfs, so that thousands of files are quick to make.
        using var ramfs = new RamfsMount(temp.Combine("ramfs"));
        string tree = Path.Join(ramfs.Path, "tree");
        string mount = temp.Combine("mount");
        Fs.Mkdir(tree, Octal("755"));
        for (int d = 0; d < 60; d++)
        {
            string directory = Path.Join(tree, $"d{d:D2}");
            Fs.Mkdir(directory, Octal("755"));
            for (int f = 0; f < 150; f++) File.WriteAllText(Path.Join(directory, $"f{f:D3}"), "");
        }
        Fs.Mkdir(mount, Octal("755"));
        IReadOnlyList<LayerChange> all = TreeComparer.Compare(null, tree);

        // Directories being compared ahead of the walk must not keep the tree busy once the walk is disposed.
        for (int i = 0; i < 10; i++)
        {
            int taken = 10 + i * 300;
            Mounts.Bind(tree, mount, readOnly: true);
            try
            {
                List<LayerChange> first = TreeComparer.Enumerate(null, mount).Take(taken).ToList();
                Mounts.Unmount(mount, lazy: false);
                Assert.Equal(all.Take(taken).Select(c => c.ToString()), first.Select(c => c.ToString()));
            }
            finally
            {
                if (Mounts.IsMountPoint(mount)) Mounts.Unmount(mount, lazy: true);
            }
        }
    }

    [Fact]
    public unsafe void A_failure_deep_in_the_tree_comes_after_the_changes_before_it()
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        Fs.Mkdir(parent, Octal("755"));
        for (int i = 0; i < 100; i++)
        {
            Fs.Mkdir(Path.Join(parent, $"d{i:D3}"), Octal("755"));
            File.WriteAllText(Path.Join(parent, $"d{i:D3}", "file"), "");
        }
        TreeCopy.Copy(parent, child, progress: null);
        for (int i = 0; i < 100; i++) Fs.Chmod(Path.Join(child, $"d{i:D3}", "file"), Octal("600"));
        // A name that is not UTF-8 cannot be named by a string path, so looking it up fails.
        byte[] bad = [.. Encoding.UTF8.GetBytes(Path.Join(child, "d050", "bad-")), 0xFF, 0];
        fixed (byte* p = bad)
        {
            int fd = Tmds.Linux.LibC.open(p, Tmds.Linux.LibC.O_CREAT | Tmds.Linux.LibC.O_WRONLY, 0x1A4);
            Assert.True(fd >= 0);
            Tmds.Linux.LibC.close(fd);
        }

        try
        {
            var seen = new List<string>();
            var failure = Assert.Throws<NativeException>(() =>
            {
                foreach (LayerChange change in TreeComparer.Enumerate(parent, child)) seen.Add(change.ToString());
            });

            Assert.Equal("statx", failure.Call);
            Assert.Equal(Path.Join(child, "d050", "bad-\uFFFD"), failure.Path);
            Assert.Equal(Enumerable.Range(0, 50).Select(i => $"Modified /d{i:D3}/file"), seen.Where(c => c != "Modified /d050"));
        }
        finally
        {
            // Nor could the temporary directory's cleanup remove it by name.
            fixed (byte* p = bad) Tmds.Linux.LibC.unlink(p);
        }
    }

    [Fact]
    public void Against_an_empty_lower_tree_everything_is_added_root_first()
    {
        using var temp = new TempDirectory();
        string tree = temp.Combine("tree");
        FixtureTree.Build(tree, NetBindServiceCapability());
        Fs.Mkdir(Path.Join(tree, "whiteouts"), Octal("755"));
        foreach (string name in new[] { "-", ".wh..wh..opq", ".wh.gone", "A" })
            File.WriteAllText(Path.Join(tree, "whiteouts", name), "");

        IReadOnlyList<LayerChange> changes = TreeComparer.Compare(null, tree);

        Assert.All(changes, c => Assert.Equal(ChangeKind.Added, c.Kind));
        string[] everyPath = [.. TreeSnapshot.Take(tree).Entries.Keys.Order(LayerPathComparer.Instance)];
        Assert.Equal("/", everyPath[0]);
        Assert.Equal(everyPath, changes.Select(c => c.Path));
        Assert.Equal(
            ["/whiteouts/.wh..wh..opq", "/whiteouts/-", "/whiteouts/.wh.gone", "/whiteouts/A"],
            changes.Select(c => c.Path).Where(p => p.StartsWith("/whiteouts/")));
    }

    [Fact]
    public void Symlinks_are_compared_not_followed()
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        string outside = temp.Combine("outside");
        Fs.Mkdir(outside, Octal("755"));
        File.WriteAllText(Path.Join(outside, "file"), "outside\n");
        Fs.Mkdir(parent, Octal("755"));
        Fs.Symlink(outside, Path.Join(parent, "to-dir"));
        // Far from now, as the kernel's coarse clock could give the root the same mtime again below.
        Fs.SetTimes(parent, OldAtime, In1970);
        TreeCopy.Copy(parent, child, progress: null);
        Fs.Symlink(outside, Path.Join(child, "also-to-dir"));

        File.WriteAllText(Path.Join(outside, "file"), "changed, through the link\n");
        File.WriteAllText(Path.Join(outside, "another"), "");

        Assert.Equal(["Modified /", "Added /also-to-dir"], TreeComparer.Compare(parent, child).Select(c => c.ToString()));
    }

    [Fact]
    public void A_very_deep_tree_does_not_overflow_the_stack()
    {
        using var temp = new TempDirectory();
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        // One-letter names keep 2,000 levels just under PATH_MAX for the path-based system calls.
        string bottom = parent;
        Fs.Mkdir(parent, Octal("755"));
        for (int i = 0; i < 2000; i++)
        {
            bottom += "/d";
            Fs.Mkdir(bottom, Octal("755"));
        }
        TreeCopy.Copy(parent, child, progress: null);
        string childBottom = child + bottom[parent.Length..];
        FileStatus before = Fs.Lstat(childBottom);
        File.WriteAllText(childBottom + "/f", "at the bottom");
        Fs.SetTimes(childBottom, before.Atime, before.Mtime);

        Assert.Equal(2001, TreeComparer.Compare(null, parent).Count); // the root and 2,000 directories
        LayerChange only = Assert.Single(TreeComparer.Compare(parent, child));
        Assert.Equal((ChangeKind.Added, bottom[parent.Length..] + "/f"), (only.Kind, only.Path));
    }

    [Fact]
    public void Roots_must_be_directories_that_exist()
    {
        using var temp = new TempDirectory();
        string tree = temp.Combine("tree");
        Fs.Mkdir(tree, Octal("755"));
        File.WriteAllText(temp.Combine("file"), "");

        var missing = Assert.Throws<NativeException>(() => TreeComparer.Enumerate(temp.Combine("missing"), tree));
        Assert.Equal((Errno.ENOENT, temp.Combine("missing")), (missing.Errno, missing.Path));
        var notDirectory = Assert.Throws<NativeException>(() => TreeComparer.Enumerate(tree, temp.Combine("file")));
        Assert.Equal((Errno.ENOTDIR, temp.Combine("file")), (notDirectory.Errno, notDirectory.Path));
    }

    private static (string Parent, string Child) ParentAndCopy(TempDirectory temp)
    {
        string parent = temp.Combine("parent");
        string child = temp.Combine("child");
        FixtureTree.Build(parent, NetBindServiceCapability());
        TreeCopy.Copy(parent, child, progress: null);
        return (parent, child);
    }

    /// <summary>
    /// A tree of about a hundred directories and a thousand entries of every common kind, named to sort in
    /// each way LayerPathComparer cares about: punctuation, case, the opaque marker, non-ASCII, and a name
    /// outside the BMP, which sorts before U+FF5E in UTF-16 though after it in UTF-8.
    /// </summary>
    private static void BuildRandomTree(string root, Random random)
    {
        string[] names = ["a", "a b", "a-b", "a.b", "a0", "A", "ab", "b", ".hidden", LayerPathComparer.OpaqueMarker, "é", "\U0001D11E", "\uFF5E"];
        Fs.Mkdir(root, Octal("755"));
        var pending = new Stack<(string Path, int Depth)>();
        pending.Push((root, 0));
        while (pending.Count > 0)
        {
            var (directory, depth) = pending.Pop();
            foreach (string name in names)
            {
                string path = Path.Join(directory, name);
                double pick = random.NextDouble();
                if (pick < 0.3 && depth < 3)
                {
                    Fs.Mkdir(path, Octal("755"));
                    pending.Push((path, depth + 1));
                }
                else if (pick < 0.75)
                {
                    File.WriteAllText(path, new string('x', random.Next(20)));
                    if (random.Next(10) == 0) Xattrs.Set(path, "user.tag", [(byte)random.Next(3)]);
                }
                else if (pick < 0.85)
                {
                    Fs.Symlink(random.Next(2) == 0 ? "target-a" : "target-b", path);
                }
            }
        }
    }

    /// <summary>Changes a few percent of a tree's entries in every way a layer can: content, mode, xattrs, link targets, type, presence.</summary>
    private static void ChangeRandomly(string root, Random random)
    {
        // Deepest first, so no change removes a path still to be visited.
        foreach (string path in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Reverse().ToList())
        {
            FileStatus status = Fs.Lstat(path);
            int pick = random.Next(100);
            switch (status.Kind)
            {
                case FileKind.Regular when pick < 4: File.AppendAllText(path, "more"); break;
                case FileKind.Regular when pick < 7: Fs.Chmod(path, Octal("600")); break;
                case FileKind.Regular when pick < 10: Xattrs.Set(path, "user.tag", [9]); break;
                case FileKind.Regular when pick < 12 && Xattrs.Get(path, "user.tag") is not null: Xattrs.Remove(path, "user.tag"); break;
                case FileKind.Regular when pick < 15: File.Delete(path); break;
                case FileKind.Regular when pick < 17:
                    File.Delete(path);
                    Fs.Mkdir(path, Octal("755"));
                    File.WriteAllText(Path.Join(path, "inside"), "");
                    break;
                case FileKind.Symlink when pick < 5:
                    Fs.Unlink(path);
                    Fs.Symlink("target-c", path);
                    break;
                case FileKind.Directory when pick < 3: Directory.Delete(path, recursive: true); break;
                case FileKind.Directory when pick < 5:
                    Directory.Delete(path, recursive: true);
                    File.WriteAllText(path, "was a directory");
                    break;
                case FileKind.Directory when pick < 8: File.WriteAllText(Path.Join(path, "new"), ""); break;
            }
        }
    }

    /// <summary>
    /// TreeComparer's rules applied to two snapshots rather than by a walk: a path of the upper tree is Added
    /// unless the lower tree has it, else Modified if a compared field differs; a path only the lower tree has
    /// is Deleted where its parent is a directory in both, so of a removed subtree only the top.
    /// </summary>
    private static List<string> ReferenceChanges(TreeSnapshot lower, TreeSnapshot upper)
    {
        static object Compared(TreeSnapshot.Entry e) =>
            (e.Kind, e.Permissions, e.Uid, e.Gid, e.Mtime, e.Kind == FileKind.Directory ? null : e.Size, e.LinkTarget, e.RdevMajor, e.RdevMinor, e.Xattrs);
        static string ParentOf(string path) => path.LastIndexOf('/') is var slash && slash == 0 ? "/" : path[..slash];

        var changes = new List<(string Path, ChangeKind Kind)>();
        foreach (var (path, entry) in upper.Entries)
        {
            if (!lower.Entries.TryGetValue(path, out TreeSnapshot.Entry? before)) changes.Add((path, ChangeKind.Added));
            else if (!Compared(before).Equals(Compared(entry))) changes.Add((path, ChangeKind.Modified));
        }
        foreach (string path in lower.Entries.Keys)
        {
            if (!upper.Entries.ContainsKey(path) && upper.Entries.GetValueOrDefault(ParentOf(path))?.Kind == FileKind.Directory)
                changes.Add((path, ChangeKind.Deleted));
        }
        return [.. changes.OrderBy(c => c.Path, LayerPathComparer.Instance).Select(c => $"{c.Kind} {c.Path}")];
    }

    private sealed class ChangeEquality : IEqualityComparer<LayerChange>
    {
        public bool Equals(LayerChange? x, LayerChange? y) => (x?.Path, x?.Kind) == (y?.Path, y?.Kind);

        public int GetHashCode(LayerChange change) => HashCode.Combine(change.Path, change.Kind);
    }
}
