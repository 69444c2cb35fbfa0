using System.Management.Automation;
using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Shell;
using Xunit;

namespace LayerTools.Tests.Cmdlets;

/// <summary>The archive cmdlets as users run them: tables, error ids, progress, pipelines; once per driver (the classes at the end).</summary>
public abstract class LayerDiffCmdletTests(string driver) : IDisposable
{
    private readonly HostedEngine _engine = new(driver);

    public void Dispose() => _engine.Dispose();

    private string File(string name) => Path.Combine(_engine.Root, "..", name);

    [Fact]
    public void GetLayerChangesPrintsKindAndPathInPathOrder()
    {
        string tree = _engine.Run("New-Layer -Root $r -Name base | Mount-Layer | ForEach-Object Path").Single<string>();
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        System.IO.File.WriteAllText(Path.Combine(tree, "etc", "hosts"), "127.0.0.1 localhost\n");
        System.IO.File.WriteAllText(Path.Combine(tree, "etc", "motd"), "hi\n");
        _engine.Run("Dismount-Layer -Root $r base; New-Layer -Root $r -Name child -Parent base").ThrowOnError();
        string child = _engine.Run("Mount-Layer -Root $r child | ForEach-Object Path").Single<string>();
        System.IO.File.Delete(Path.Combine(child, "etc", "motd"));
        System.IO.File.WriteAllText(Path.Combine(child, "etc", "hosts"), "127.0.0.1 localhost child\n");
        System.IO.File.WriteAllText(Path.Combine(child, "new"), "new\n");

        var changes = _engine.Run("Get-LayerChanges -Root $r child").ThrowOnError().Output.Select(o => (LayerChange)o.BaseObject).ToList();
        string[] lines = _engine.Render("Get-LayerChanges -Root $r child").Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();

        // Adding /new and removing /etc/motd changed the mtimes of / and /etc: their own metadata changed.
        Assert.Equal(["Modified /", "Modified /etc", "Modified /etc/hosts", "Deleted /etc/motd", "Added /new"], changes.Select(c => c.ToString()));
        Assert.Equal(["Kind     Path", "----     ----", "Modified /", "Modified /etc", "Modified /etc/hosts", "Deleted  /etc/motd", "Added    /new"], lines);
    }

    [Fact]
    public void ExportThenImportThroughThePipelineGivesTheSameTree()
    {
        string tree = _engine.Run("New-Layer -Root $r -Name base | Mount-Layer | ForEach-Object Path").Single<string>();
        FixtureTree.Build(tree, FixtureTree.NetBindServiceCapability());
        Fs.Unlink(Path.Combine(tree, "dev/socket"));
        _engine.Run("Dismount-Layer -Root $r base").ThrowOnError();

        LayerDiff exported = _engine.Run($"Get-Layer -Root $r base | Export-LayerDiff -Path '{File("base.tar.zst")}'").Single<LayerDiff>();
        LayerDiff imported = _engine.Run($"New-Layer -Root $r -Name copy | Import-LayerDiff -Path '{File("base.tar.zst")}'").Single<LayerDiff>();
        LayerDiff measured = _engine.Run("Measure-LayerDiff -Root $r base -Compression Zstd").Single<LayerDiff>();

        Assert.Equal("Zstd", exported.Compression);
        Assert.Equal(exported.Digest, imported.Digest);
        Assert.Equal(exported.UncompressedDigest, imported.UncompressedDigest);
        Assert.Equal(exported.UncompressedDigest, measured.UncompressedDigest);
        Assert.Equal(exported.Size, measured.Size);
        Assert.Empty(_engine.Run("Get-LayerChanges -Root $r copy -From base").ThrowOnError().Output);
        string table = _engine.Render("Measure-LayerDiff -Root $r base");
        Assert.Matches(@"LayerId\s+Compression\s+Size\s+Uncompressed\s+Entries\s+Digest\s+Path", table);
    }

    [Fact]
    public void ACorruptTarballIsArchiveCorruptAndLeavesNoLayer()
    {
        System.IO.File.WriteAllBytes(File("junk.tar"), [.. Enumerable.Repeat((byte)'x', 1024)]);

        ErrorRecord error = _engine.Run($"New-Layer -Root $r -Name junk -Archive '{File("junk.tar")}'").SingleError();

        Assert.Equal("ArchiveCorrupt,LayerTools.Commands.NewLayerCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
        Assert.Empty(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
        Assert.Empty(_engine.Layout.LayerIds());
    }

    [Fact]
    public void AnEscapingEntryIsArchiveUnsafeEntryAndNothingLandsOutside()
    {
        using (var stream = System.IO.File.Create(File("evil.tar")))
        using (var tar = new TarWriter(stream))
        {
            tar.WriteEntry(new TarEntry { Name = "ok.txt", Type = TarEntryType.Regular, Size = 2, Mode = 0x1A4 }, new MemoryStream("ok"u8.ToArray()));
            tar.WriteEntry(new TarEntry { Name = "../../escape", Type = TarEntryType.Regular, Size = 4, Mode = 0x1A4 }, new MemoryStream("evil"u8.ToArray()));
        }
        _engine.Run("New-Layer -Root $r -Name target").ThrowOnError();

        ErrorRecord error = _engine.Run($"Import-LayerDiff -Root $r target -Path '{File("evil.tar")}'").SingleError();

        Assert.Equal("ArchiveUnsafeEntry,LayerTools.Commands.ImportLayerDiffCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.SecurityError, error.CategoryInfo.Category);
        Assert.Equal("../../escape", error.TargetObject);
        // Wherever the driver keeps the layer, ../../escape would land in the test's directory.
        Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(_engine.Root)!, "escape", SearchOption.AllDirectories));
        string screen = _engine.Render("Get-Layer -Root $r target | Out-Null");
        Assert.Contains("WARNING: Layer 'target'", screen);
        Assert.Contains("import into this layer failed", screen);
    }

    [Fact]
    public void LongImportsAndExportsShowProgress()
    {
        string tree = _engine.Run("New-Layer -Root $r -Name big | Mount-Layer | ForEach-Object Path").Single<string>();
        for (int d = 0; d < 100; d++)
        {
            string dir = Path.Combine(tree, $"d{d:D3}");
            Directory.CreateDirectory(dir);
            for (int f = 0; f < 200; f++) System.IO.File.WriteAllText(Path.Combine(dir, $"f{f:D3}"), "x");
        }
        _engine.Run("Dismount-Layer -Root $r big").ThrowOnError();

        _engine.Run($"Export-LayerDiff -Root $r big -Path '{File("big.tar")}'").ThrowOnError();
        _engine.Run($"New-Layer -Root $r -Name again -Archive '{File("big.tar")}'").ThrowOnError();

        Assert.Contains(_engine.Host.Progress, p => p.Activity == "Exporting layer");
        // The tarball's size is known, so applying it shows how far it has come.
        Assert.Contains(_engine.Host.Progress, p => p.Activity == "Applying layer" && p.PercentComplete is > 0 and <= 100);
        Assert.Equal(ProgressRecordType.Completed, _engine.Host.Progress[^1].RecordType);
    }

    [Fact]
    public void ExportNeedsPathOrStdout()
    {
        _engine.Run("New-Layer -Root $r -Name base").ThrowOnError();
        ErrorRecord error = _engine.Run("Export-LayerDiff -Root $r base").SingleError();
        Assert.Equal("PathOrStdoutRequired,LayerTools.Commands.ExportLayerDiffCommand", error.FullyQualifiedErrorId);
    }

    [Fact]
    public void OneFileHoldsOneLayerAndUnwritableCompressionsAreRefused()
    {
        _engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b").ThrowOnError();

        ScriptResult two = _engine.Run($"Get-Layer -Root $r a, b | Export-LayerDiff -Path '{File("both.tar")}'");
        ErrorRecord bz2 = _engine.Run($"Export-LayerDiff -Root $r a -Path '{File("a.tar.bz2")}'").SingleError();

        Assert.Single(two.Output);
        Assert.Contains("already holds the diff of layer", two.SingleError().Exception.Message);
        Assert.Equal("InvalidArgument,LayerTools.Commands.ExportLayerDiffCommand", bz2.FullyQualifiedErrorId);
        Assert.False(System.IO.File.Exists(File("a.tar.bz2")));
    }
}

public sealed class VfsLayerDiffCmdletTests() : LayerDiffCmdletTests("vfs");

public sealed class OverlayLayerDiffCmdletTests() : LayerDiffCmdletTests("overlay");
