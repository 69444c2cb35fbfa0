using System.Diagnostics;
using LayerTools.Archive;
using LayerTools.Changes;
using LayerTools.Drivers;
using LayerTools.Drivers.Overlay;
using LayerTools.Native;
using LayerTools.Store;
using LayerTools.Tests.Archive;
using LayerTools.Tests.Store;
using Xunit;
using Xunit.Abstractions;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Overlay;

/// <summary>
/// Changes read from overlay diff directories against the generic comparison of merged views: the two
/// must agree entry for entry, and the native one must cost what the change costs.
/// </summary>
public sealed class OverlayChangesTests(ITestOutputHelper output) : IDisposable
{
    private readonly ScratchStore _store = new();
    private StoreEngine? _engine;

    private StoreEngine Engine => _engine ??= StoreEngine.Initialize(_store.Options, "overlay", force: false);

    public void Dispose() => _store.Dispose();

    [Fact]
    public void Native_changes_equal_the_compared_merged_views_for_a_base_a_child_and_a_grandchild()
    {
        Layer base_ = MakeBase();
        Layer child = Engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        WriteThrough("child", ChangeChild);
        Layer grandchild = Engine.Create(new LayerSpec { Names = ["grandchild"], Parent = "child" });
        WriteThrough("grandchild", ChangeGrandchild);
        // A whiteout for a path no ancestor has, as an interrupted tool could leave: it hides nothing.
        Fs.Mknod(Path.Join(Diff(grandchild.Id), "ghost"), FileKind.CharDevice, 0, 0, 0);
        // The cases below are what the diffs hold: escaped attributes, opaque directories, unchanged copy-ups.
        Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(Diff(base_.Id), "a"), "trusted.overlay.overlay.opaque"));
        Assert.Null(Xattrs.Get(Path.Join(Diff(base_.Id), "a"), "trusted.overlay.opaque"));
        foreach (string copiedUp in new[] { "a/b/c", "times/future.txt", "links1/h1" })
            Assert.True(Fs.TryLstat(Path.Join(Diff(child.Id), copiedUp), out _), $"{copiedUp} was not copied up");
        Assert.False(Fs.TryLstat(Path.Join(Diff(child.Id), "a/.hidden"), out _));
        Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(Diff(child.Id), "usr/bin"), "trusted.overlay.opaque"));
        Assert.Equal("y"u8.ToArray(), Xattrs.Get(Path.Join(Diff(grandchild.Id), "usr"), "trusted.overlay.opaque"));

        List<string> baseExpected = Compared(null, "base");
        List<string> childExpected = Compared("base", "child");
        List<string> grandchildExpected = Compared("child", "grandchild");
        output.WriteLine("child:\n  " + string.Join("\n  ", childExpected));
        output.WriteLine("grandchild:\n  " + string.Join("\n  ", grandchildExpected));

        var native = (INativeChanges)Engine.Driver;
        Assert.Equal(baseExpected, Describe(native.ChangesFromParent(base_.Id)));
        Assert.Equal(childExpected, Describe(native.ChangesFromParent(child.Id)));
        Assert.Equal(grandchildExpected, Describe(native.ChangesFromParent(grandchild.Id)));
        Assert.Equal(childExpected, Describe(Engine.Changes("child", null)));
        Assert.Equal(grandchildExpected, Describe(Engine.Changes("grandchild", null)));
        // Against a layer other than the parent the store still compares the trees.
        Assert.Equal(Compared("base", "grandchild"), Describe(Engine.Changes("grandchild", "base")));

        // The generic comparison saw every case the child was meant to exercise, and left out what it should.
        Assert.Subset(childExpected.ToHashSet(), new HashSet<string>
        {
            "Added /new.txt", "Added /new-link", "Added /new-symlink", "Added /newdir/sub/file", "Added /h1-again",
            "Deleted /empty", "Deleted /links2", "Modified /usr/bin", "Modified /usr/bin/su", "Deleted /usr/bin/ping",
            "Added /usr/bin/new-tool", "Modified /hello.txt", "Modified /shared/readme", "Modified /private/secret",
            "Modified /ünïcødé name", "Modified /times/epoch.txt", "Modified /dangling", "Added /dangling/inside",
            "Modified /dev", "Modified /a/b/c/deep.txt",
        });
        foreach (string unchanged in new[] { "/a", "/a/b", "/a/b/c", "/a/.hidden", "/times", "/times/future.txt", "/links1/h1", "/dev/null" })
            Assert.DoesNotContain(childExpected, c => c.EndsWith(" " + unchanged, StringComparison.Ordinal));
        Assert.Subset(grandchildExpected.ToHashSet(), new HashSet<string>
        {
            "Modified /", "Deleted /new.txt", "Deleted /links1/h2", "Modified /usr", "Deleted /usr/bin/new-tool",
            "Modified /usr/bin/su", "Added /usr/lib", "Added /usr/lib/x", "Modified /dev", "Modified /newdir/sub/file",
        });
        Assert.DoesNotContain(grandchildExpected, c => c.EndsWith("/ghost", StringComparison.Ordinal));
    }

    [Fact]
    public void Exporting_through_the_store_writes_the_same_tarball_as_the_generic_comparison()
    {
        MakeBase();
        Engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        WriteThrough("child", ChangeChild);
        Engine.Create(new LayerSpec { Names = ["grandchild"], Parent = "child" });
        WriteThrough("grandchild", ChangeGrandchild);

        foreach (var (parent, layer) in new[] { ("base", "child"), ("child", "grandchild") })
        {
            byte[] expected = WithViews(parent, layer, (lower, upper) =>
            {
                using var buffer = new MemoryStream();
                using (var tar = new TarWriter(buffer, leaveOpen: true))
                {
                    ChangesetWriter.Write(tar, upper, TreeComparer.Enumerate(lower, upper), null);
                    tar.Finish();
                }
                return buffer.ToArray();
            });
            using var exported = new MemoryStream();
            LayerDiff diff = Engine.ExportDiff(layer, null, exported, CompressionKind.None, null);

            Assert.Equal(
                TarContents.ReadAll(expected).Select(e => e.Entry.Name),
                TarContents.ReadAll(exported.ToArray()).Select(e => e.Entry.Name));
            Assert.Equal(expected, exported.ToArray());
            Assert.False(diff.Exact);
        }
    }

    [Fact]
    public void Native_changes_of_ten_files_over_twenty_thousand_look_at_a_few_dozen_paths()
    {
        Layer base_ = Engine.Create(new LayerSpec { Names = ["base"] });
        WriteThrough("base", tree =>
        {
            for (int d = 0; d < 200; d++)
            {
                string directory = Path.Join(tree, $"d{d:D3}");
                Directory.CreateDirectory(directory);
                for (int f = 0; f < 100; f++) File.WriteAllText(Path.Join(directory, $"f{f:D3}"), $"{d}/{f}\n");
            }
        });
        Layer child = Engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        WriteThrough("child", tree =>
        {
            for (int i = 0; i < 10; i++) File.AppendAllText(Path.Join(tree, $"d{i * 20:D3}/f{i * 7:D3}"), "changed\n");
        });

        var clock = Stopwatch.StartNew();
        List<string> expected = Compared("base", "child");
        TimeSpan generic = clock.Elapsed;

        var visits = new OverlayChanges.Visits();
        clock.Restart();
        List<string> actual = Describe(OverlayChanges.Enumerate(Diff(child.Id), [Diff(base_.Id)], visits));
        TimeSpan native = clock.Elapsed;
        clock.Restart();
        List<string> throughDriver = Describe(((INativeChanges)Engine.Driver).ChangesFromParent(child.Id));
        TimeSpan driver = clock.Elapsed;

        Report($"20,000 files, 10 changed: TreeComparer over mounted views {generic.TotalMilliseconds:F1} ms; " +
            $"OverlayChanges {native.TotalMilliseconds:F1} ms ({visits.Paths} paths looked at); through the driver {driver.TotalMilliseconds:F1} ms");
        Assert.Equal(expected, actual);
        Assert.Equal(expected, throughDriver);
        Assert.Equal(10, expected.Count(c => c.StartsWith("Modified /d", StringComparison.Ordinal) && c.Contains("/f")));
        // Two roots, then for each of the ten copied-up directories and ten files one lstat in the diff and one in the base.
        Assert.InRange(visits.Paths, 10, 60);
    }

    private Layer MakeBase()
    {
        Layer base_ = Engine.Create(new LayerSpec { Names = ["base"] });
        WriteThrough("base", tree => Build(tree, NetBindServiceCapability()));
        return base_;
    }

    /// <summary>One of every kind of change, and the ones that copy a path up without changing it.</summary>
    private static void ChangeChild(string tree)
    {
        string P(string relative) => Path.Join(tree, relative);

        File.WriteAllText(P("new.txt"), "added\n");
        Xattrs.Set(P("new.txt"), "user.new", [4, 2]);
        Fs.Link(P("new.txt"), P("new-link"));
        Fs.Symlink("new.txt", P("new-symlink"));
        Directory.CreateDirectory(P("newdir/sub"));
        File.WriteAllText(P("newdir/sub/file"), "deep add\n");
        // Linking to a base file copies it up unchanged.
        Fs.Link(P("links1/h1"), P("h1-again"));

        File.Delete(P("empty"));
        Directory.Delete(P("links2"), recursive: true);
        Directory.Delete(P("usr/bin"), recursive: true);
        Directory.CreateDirectory(P("usr/bin"));
        File.WriteAllText(P("usr/bin/su"), "#!/bin/sh\nexec true\n");
        File.WriteAllText(P("usr/bin/new-tool"), "tool\n");

        File.WriteAllText(P("hello.txt"), "hello, changed layer\n");
        Fs.Chmod(P("shared/readme"), Octal("600"));
        Fs.Lchown(P("private/secret"), 1, 1);
        Xattrs.Set(P("ünïcødé name"), "user.extra", [9]);
        Fs.SetTimes(P("times/epoch.txt"), Fs.Lstat(P("times/epoch.txt")).Atime, In1970 with { Nanoseconds = In1970.Nanoseconds + 1 });

        File.Delete(P("dangling"));
        Directory.CreateDirectory(P("dangling"));
        File.WriteAllText(P("dangling/inside"), "was a symlink\n");
        Directory.Delete(P("dev"), recursive: true);
        File.WriteAllText(P("dev"), "was a directory\n");

        File.ReadAllText(P("a/.hidden"));
        FileStatus future = Fs.Lstat(P("times/future.txt"));
        Fs.SetTimes(P("times/future.txt"), new Timestamp(future.Atime.Seconds + 3600, 5), future.Mtime);

        // A changed file copies its directories up; their own metadata is put back as it was.
        var before = new[] { "a", "a/b", "a/b/c" }.ToDictionary(d => d, d => Fs.Lstat(P(d)));
        File.WriteAllText(P("a/b/c/deep.txt"), "deeper\n");
        foreach (var (directory, status) in before.Reverse()) Fs.SetTimes(P(directory), status.Atime, status.Mtime);
    }

    /// <summary>Changes over the child's changes, including an opaque directory over the child's opaque one.</summary>
    private static void ChangeGrandchild(string tree)
    {
        string P(string relative) => Path.Join(tree, relative);

        File.Delete(P("new.txt"));
        File.Delete(P("links1/h2"));
        Directory.Delete(P("usr"), recursive: true);
        Directory.CreateDirectory(P("usr/bin"));
        File.WriteAllText(P("usr/bin/su"), "again\n");
        Directory.CreateDirectory(P("usr/lib"));
        File.WriteAllText(P("usr/lib/x"), "x\n");
        File.AppendAllText(P("dev"), "more\n");
        File.AppendAllText(P("newdir/sub/file"), "more\n");
        Fs.Chmod(tree, Octal("755"));
    }

    private List<string> Compared(string? parent, string layer) =>
        WithViews(parent, layer, (lower, upper) => Describe(TreeComparer.Compare(lower, upper)));

    /// <summary>Runs <paramref name="work"/> on read-only mounts of both layers (no lower tree for a base layer).</summary>
    private T WithViews<T>(string? parent, string layer, Func<string?, string, T> work)
    {
        string? lower = parent is null ? null : Engine.Mount(parent, readOnly: true).Path;
        try
        {
            string upper = Engine.Mount(layer, readOnly: true).Path;
            try { return work(lower, upper); }
            finally { Engine.Unmount(layer, force: false); }
        }
        finally
        {
            if (parent is not null) Engine.Unmount(parent, force: false);
        }
    }

    private void WriteThrough(string layer, Action<string> write)
    {
        string tree = Engine.Mount(layer, readOnly: false).Path;
        try { write(tree); }
        finally { Engine.Unmount(layer, force: false); }
    }

    private string Diff(string id) => Path.Combine(_store.Root, "overlay", id, "diff");

    private static List<string> Describe(IEnumerable<LayerChange> changes) => changes.Select(c => c.ToString()).ToList();

    /// <summary>To the test log and to the console, where a plain `dotnet test` run shows it.</summary>
    private void Report(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
