using System.Security.Cryptography;
using System.Text;
using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Store;
using LayerTools.Tests.Archive;
using LayerTools.Tests.Store;
using Xunit;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Diffs;

/// <summary>Layer tarballs through the store: export, import, exact re-export, changes, failures; once per driver (the classes at the end).</summary>
public abstract class LayerDiffTests : IDisposable
{
    private readonly ScratchStore _store;
    private readonly StoreEngine _engine;

    protected LayerDiffTests(string driver)
    {
        _store = new ScratchStore(driver);
        _engine = _store.Open();
    }

    public void Dispose() => _store.Dispose();

    [Fact]
    public void A_child_diff_lists_in_gnu_tar_and_reimports_onto_a_fresh_child_to_an_identical_tree()
    {
        MakeBase();
        Layer child = _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        ChangeSet.Apply(_engine.Mount("child", readOnly: false).Path);
        _engine.Unmount("child", force: false);

        string tarball = _store.Location + "/child.tar";
        LayerDiff diff = _engine.ExportDiff("child", null, tarball, CompressionKind.None, overwrite: true);
        IReadOnlyList<LayerChange> changes = _engine.Changes("child", null);

        // GNU tar reads it, and its entries are the changes: whiteouts for deletions, entries for the rest.
        string[] listed = ExternalTool.RunText("tar", "-tf", tarball).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(name => name == "./" ? name : name.TrimEnd('/')).ToArray();
        Assert.Equal(changes.Select(ChangeSet.TarEntryName), listed);
        Assert.Equal(changes.Count, diff.Entries);
        Assert.Equal(Sha256(tarball), diff.UncompressedDigest);
        Assert.Equal(new FileInfo(tarball).Length, diff.Size);

        _engine.Create(new LayerSpec { Names = ["again"], Parent = "base" });
        LayerDiff imported = _engine.ImportDiff("again", tarball);
        Assert.Equal(diff.UncompressedDigest, imported.UncompressedDigest);
        ChangeSet.AssertSameTrees(_engine, "child", _engine, "again");
        Assert.Empty(_engine.Changes("again", "child"));
    }

    [Fact]
    public void The_same_layer_exports_to_the_same_bytes_and_a_base_layer_exports_its_whole_tree()
    {
        MakeBase();
        LayerDiff first = _engine.ExportDiff("base", null, _store.Location + "/1.tar", CompressionKind.None, overwrite: true);
        LayerDiff second = _engine.ExportDiff("base", null, _store.Location + "/2.tar", CompressionKind.None, overwrite: true);
        Assert.Equal(first.UncompressedDigest, second.UncompressedDigest);
        Assert.False(first.Exact);

        Layer copy = _engine.Create(new LayerSpec { Names = ["copy"] }, _store.Location + "/1.tar");
        // The fixture's socket cannot travel in a tar (GNU tar skips sockets too); everything else arrives
        // as it was, the sparse file with its holes, since a diff carries only its data.
        string baseTree = _engine.Mount("base", readOnly: true).Path;
        string copyTree = _engine.Mount("copy", readOnly: true).Path;
        var differences = TreeSnapshot.Take(copyTree).DifferencesFrom(TreeSnapshot.Take(baseTree));
        Assert.Equal(["/dev/socket: missing (expected a Socket)"], differences);
        Assert.Equal(first.UncompressedDigest, copy.UncompressedDigest);
    }

    [Theory]
    [InlineData(CompressionKind.Gzip, "gzip")]
    [InlineData(CompressionKind.Zstd, "zstd")]
    public void Compressed_exports_pass_the_reference_tools_and_import_back(CompressionKind kind, string tool)
    {
        MakeBase();
        string file = _store.Location + "/base.tar." + tool;
        LayerDiff diff = _engine.ExportDiff("base", null, file, kind, overwrite: true);
        ExternalTool.Run(tool, "-t", file);
        Assert.Equal(Sha256(file), diff.Digest);
        Assert.NotEqual(diff.Digest, diff.UncompressedDigest);

        Layer imported = _engine.Create(new LayerSpec { Names = ["imported"] }, file);
        Assert.Equal(kind.ToString(), imported.Compression);
        Assert.Equal(diff.UncompressedDigest, imported.UncompressedDigest);
        Assert.Equal(diff.Digest, imported.CompressedDigest);
    }

    [Fact]
    public void A_bzip2_tarball_imports()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        LayerDiff diff = _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);
        ExternalTool.Run("bzip2", "-k", tarball);

        Layer imported = _engine.Create(new LayerSpec { Names = ["imported"] }, tarball + ".bz2");

        Assert.Equal("Bzip2", imported.Compression);
        Assert.Equal(diff.UncompressedDigest, imported.UncompressedDigest);
    }

    [Fact]
    public void A_gnu_tar_tarball_exports_back_byte_for_byte_until_the_layer_changes()
    {
        using var source = new TempDirectory();
        string tree = source.Combine("tree");
        Build(tree, NetBindServiceCapability());
        Fs.Unlink(Path.Combine(tree, "dev/socket"));
        string tarball = source.Combine("gnu.tar");
        ExternalTool.Run("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--format=posix", "-S", "-C", tree, "-cf", tarball, ".");

        Layer layer = _engine.Create(new LayerSpec { Names = ["gnu"] }, tarball);
        LayerDiff again = _engine.ExportDiff("gnu", null, source.Combine("again.tar"), CompressionKind.None, overwrite: true);

        Assert.True(again.Exact);
        Assert.Equal(Sha256(tarball), layer.UncompressedDigest);
        Assert.Equal(Sha256(tarball), again.UncompressedDigest);
        Assert.Equal(File.ReadAllBytes(tarball), File.ReadAllBytes(source.Combine("again.tar")));

        // A read-write mount may change anything, so the original tarball no longer speaks for the layer.
        string mount = _engine.Mount("gnu", readOnly: false).Path;
        File.AppendAllText(Path.Combine(mount, "hello.txt"), "changed\n");
        _engine.Unmount("gnu", force: false);
        LayerDiff fresh = _engine.ExportDiff("gnu", null, source.Combine("fresh.tar"), CompressionKind.None, overwrite: true);
        Assert.False(fresh.Exact);
        Assert.NotEqual(layer.UncompressedDigest, fresh.UncompressedDigest);
    }

    [Fact]
    public void A_failed_New_Layer_Archive_leaves_no_layer_and_a_failed_import_marks_the_layer()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);
        byte[] bytes = File.ReadAllBytes(tarball);
        string truncated = _store.Location + "/truncated.tar";
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        Assert.Throws<ArchiveCorruptException>(() => _engine.Create(new LayerSpec { Names = ["broken"] }, truncated));
        Assert.Equal(["base"], _engine.List().SelectMany(l => l.Names).ToArray());
        Assert.Single(_store.TreeIds());
        Assert.False(Directory.Exists(Path.Combine(_store.Root, "exact")) && Directory.EnumerateFileSystemEntries(Path.Combine(_store.Root, "exact")).Any());

        _engine.Create(new LayerSpec { Names = ["target"] });
        Assert.Throws<ArchiveCorruptException>(() => _engine.ImportDiff("target", truncated));
        Layer damaged = _engine.Get("target");
        Assert.NotNull(damaged.Problem);
        Assert.Contains("import into this layer failed", damaged.Problem);

        // A later import succeeds, but what the failed one left behind is still there: the layer stays marked.
        LayerDiff again = _engine.ImportDiff("target", tarball);
        Assert.Equal(Sha256(tarball), again.UncompressedDigest);
        Assert.Equal(damaged.Problem, _engine.Get("target").Problem);
    }

    [Fact]
    public void A_tarball_opened_for_writing_during_its_import_is_ArchiveChanged_and_leaves_no_layer()
    {
        // 300 entries: the import reports progress every 100, and the first report opens the tarball for writing.
        _engine.Create(new LayerSpec { Names = ["many"] });
        string tree = _engine.Mount("many", readOnly: false).Path;
        for (int i = 0; i < 300; i++) File.WriteAllText(Path.Combine(tree, $"file{i}"), $"{i}\n");
        _engine.Unmount("many", force: false);
        string tarball = _store.Location + "/many.tar";
        _engine.ExportDiff("many", null, tarball, CompressionKind.None, overwrite: true);
        int? writerErrno = null;
        var options = _store.Options;
        var engine = StoreEngine.OpenExisting(new StoreOptions
        {
            Root = options.Root,
            RunRoot = options.RunRoot,
            LockTimeout = options.LockTimeout,
            Progress = _ => writerErrno ??= LeasedFileDigestTests.OpenForWritingWithoutWaiting(tarball),
        })!;

        var refused = Assert.Throws<LayerToolsException>(() => engine.Create(new LayerSpec { Names = ["changed"] }, tarball));

        Assert.Equal(LayerError.ArchiveChanged, refused.Error);
        // The lease held the writer off: open refused it rather than let it write under the import.
        Assert.Equal(Tmds.Linux.LibC.EWOULDBLOCK, writerErrno);
        Assert.Equal(["many"], _engine.List().SelectMany(l => l.Names).ToArray());
        Assert.Single(_store.TreeIds());
        // With the import over, the tarball can be written again, and it imports.
        Assert.Null(LeasedFileDigestTests.OpenForWritingWithoutWaiting(tarball));
        Assert.Equal(Sha256(tarball), _engine.Create(new LayerSpec { Names = ["again"] }, tarball).UncompressedDigest);
    }

    [Fact]
    public void Importing_into_a_read_only_layer_is_refused()
    {
        MakeBase();
        _engine.Create(new LayerSpec { Names = ["sealed"], ReadOnly = true });
        string tarball = _store.Location + "/base.tar";
        _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);

        var error = Assert.Throws<LayerToolsException>(() => _engine.ImportDiff("sealed", tarball));

        Assert.Equal(LayerError.LayerReadOnly, error.Error);
    }

    [Fact]
    public void A_missing_tarball_is_ArchiveNotFound()
    {
        var error = Assert.Throws<LayerToolsException>(() => _engine.Create(new LayerSpec { Names = ["x"] }, _store.Location + "/nope.tar"));
        Assert.Equal(LayerError.ArchiveNotFound, error.Error);
        Assert.Empty(_engine.List());
    }

    [Fact]
    public void A_file_rewritten_at_the_same_size_behind_the_stores_back_exports_as_a_fresh_diff()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);
        Layer copy = _engine.Create(new LayerSpec { Names = ["copy"] }, tarball);
        // Written where the driver keeps the layer's files, so the store never learns of it; only the content digest can tell.
        // (Not a sparse file: the replay reads only the data its record names, so a write into a hole would go unseen.)
        string changed = Directory.EnumerateFiles(_store.TreeOf(copy.Id), "*", SearchOption.AllDirectories).First(f => Fs.Lstat(f) is { Kind: FileKind.Regular, Size: > 0 } status && status.Blocks * 512 >= status.Size);
        byte[] content = File.ReadAllBytes(changed);
        content[0] ^= 0xFF;
        File.WriteAllBytes(changed, content);

        string again = _store.Location + "/again.tar";
        LayerDiff diff = _engine.ExportDiff("copy", null, again, CompressionKind.None, overwrite: true);

        Assert.False(diff.Exact);
        Assert.Contains(_store.Warnings, w => w.Contains("changed since it was imported") && w.Contains(copy.Id));
        Assert.Equal(Sha256(again), diff.UncompressedDigest);
        Assert.NotEqual(Sha256(tarball), diff.UncompressedDigest);
        Assert.Equal(diff.Entries, ExternalTool.RunText("tar", "-tf", again).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void A_damaged_record_of_the_original_tarball_falls_back_to_a_fresh_diff_with_a_warning()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);
        Layer copy = _engine.Create(new LayerSpec { Names = ["copy"] }, tarball);
        string record = Directory.EnumerateFiles(Path.Combine(_store.Root, "exact")).Single();
        byte[] bytes = File.ReadAllBytes(record);
        bytes[^5] ^= 0xFF;
        File.WriteAllBytes(record, bytes);

        LayerDiff diff = _engine.ExportDiff("copy", null, _store.Location + "/again.tar", CompressionKind.None, overwrite: true);

        Assert.False(diff.Exact);
        Assert.Contains(_store.Warnings, w => w.Contains("damaged") && w.Contains(copy.Id));
    }

    [Fact]
    public void An_import_refused_before_it_starts_leaves_the_layer_unmarked()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);
        _engine.Create(new LayerSpec { Names = ["target"] });
        _engine.Mount("target", readOnly: true);

        var error = Assert.Throws<LayerToolsException>(() => _engine.ImportDiff("target", tarball));

        Assert.Equal(LayerError.LayerMounted, error.Error);
        Assert.Null(_engine.Get("target").Problem);
        _engine.Unmount("target", force: true);
    }

    [Fact]
    public void An_exact_export_counts_the_entries_of_the_original_tarball()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        LayerDiff fresh = _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: true);
        _engine.Create(new LayerSpec { Names = ["copy"] }, tarball);

        LayerDiff exact = _engine.ExportDiff("copy", null, _store.Location + "/copy.tar", CompressionKind.None, overwrite: true);

        Assert.True(exact.Exact);
        Assert.Equal(fresh.Entries, exact.Entries);
        Assert.True(exact.Entries > 30);
    }

    [Fact]
    public void An_exact_export_and_the_changes_of_a_layer_mount_nothing()
    {
        MakeBase();
        _engine.Create(new LayerSpec { Names = ["child"], Parent = "base" });
        ChangeSet.Apply(_engine.Mount("child", readOnly: false).Path);
        _engine.Unmount("child", force: false);
        string tarball = _store.Location + "/child.tar";
        _engine.ExportDiff("child", null, tarball, CompressionKind.None, overwrite: true);
        IReadOnlyList<LayerChange> changes = _engine.Changes("child", null);
        Layer copy = _engine.Create(new LayerSpec { Names = ["copy"], Parent = "base" }, tarball);

        // A file where each layer's mount point belongs makes any mount of it fail.
        foreach (string id in new[] { copy.Id, _engine.Get("base").Id })
        {
            string mountPoint = _store.Layout.MountPath(id);
            if (Directory.Exists(mountPoint)) Directory.Delete(mountPoint);
            File.WriteAllText(mountPoint, "no mount here");
        }

        LayerDiff exact = _engine.ExportDiff("copy", null, _store.Location + "/copy.tar", CompressionKind.None, overwrite: true);

        Assert.True(exact.Exact);
        Assert.Equal(File.ReadAllBytes(tarball), File.ReadAllBytes(_store.Location + "/copy.tar"));
        Assert.Equal(changes.Select(c => c.ToString()), _engine.Changes("copy", null).Select(c => c.ToString()));
        Assert.Empty(_store.MountsUnder());
    }

    [Fact]
    public void Export_refuses_to_overwrite_when_asked_and_names_a_missing_directory()
    {
        MakeBase();
        string tarball = _store.Location + "/base.tar";
        File.WriteAllText(tarball, "keep me");

        var exists = Assert.Throws<LayerToolsException>(() => _engine.ExportDiff("base", null, tarball, CompressionKind.None, overwrite: false));
        var missing = Assert.Throws<LayerToolsException>(() => _engine.ExportDiff("base", null, _store.Location + "/no/such/dir/x.tar", CompressionKind.None, overwrite: true));

        Assert.Equal(LayerError.OutputExists, exists.Error);
        Assert.Equal("keep me", File.ReadAllText(tarball));
        Assert.Equal(LayerError.OutputDirectoryNotFound, missing.Error);
        Assert.Empty(Directory.EnumerateFiles(_store.Location, "*.part", SearchOption.AllDirectories));
    }

    private void MakeBase()
    {
        _engine.Create(new LayerSpec { Names = ["base"] });
        string tree = _engine.Mount("base", readOnly: false).Path;
        Build(tree, NetBindServiceCapability());
        _engine.Unmount("base", force: false);
    }

    private static string Sha256(string file) =>
        "sha256:" + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file))).ToLowerInvariant();
}

public sealed class VfsLayerDiffTests() : LayerDiffTests("vfs");

public sealed class OverlayLayerDiffTests() : LayerDiffTests("overlay");
