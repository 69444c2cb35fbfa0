using System.Management.Automation;
using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests.Cmdlets;

/// <summary>The user stories of the foundation, run through the real engine with the assembled module.</summary>
public sealed class LayerCmdletTests : IDisposable
{
    private readonly HostedEngine _engine = new();

    public void Dispose() => _engine.Dispose();

    [Fact]
    public void ChildOfAMountedAndWrittenBaseHasTheSameTreeByEveryAttribute()
    {
        _engine.Run("New-Layer -Root $r -Name base").ThrowOnError();
        LayerMount mount = _engine.Run("Mount-Layer -Root $r base").Single<LayerMount>();
        Assert.True(Mounts.IsMountPoint(mount.Path));
        FixtureTree.Build(mount.Path, FixtureTree.NetBindServiceCapability());
        _engine.Run("Dismount-Layer -Root $r base").ThrowOnError();
        Assert.False(Mounts.IsMountPoint(mount.Path));

        _engine.Run("New-Layer -Root $r -Name child -Parent base").ThrowOnError();
        string baseTree = _engine.Run("Mount-Layer -Root $r base -ReadOnly").Single<LayerMount>().Path;
        string childTree = _engine.Run("Mount-Layer -Root $r child").Single<LayerMount>().Path;

        TreeSnapshot expected = TreeSnapshot.Take(baseTree);
        Assert.Empty(TreeSnapshot.Take(childTree).DifferencesFrom(expected));
        Assert.True(expected.Entries.Count > 30, $"only {expected.Entries.Count} entries were compared");
        Assert.Equal(FixtureTree.Octal("4755"), Fs.Lstat(Path.Combine(childTree, "usr/bin/su")).Permissions);
    }

    [Fact]
    public void GetLayerPrintsATableOfTheLayers()
    {
        _engine.Run("New-Layer -Root $r -Name base; New-Layer -Root $r -Name child -Parent base -ReadOnly").ThrowOnError();
        var layers = _engine.Run("Get-Layer -Root $r").ThrowOnError().Output.Select(o => (Layer)o.BaseObject).ToList();
        Layer parent = layers.Single(l => l.Names.Contains("base"));
        Layer child = layers.Single(l => l.Names.Contains("child"));

        string[] lines = _engine.Render("Get-Layer -Root $r").Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();

        Assert.Matches(@"^Id\s+Parent\s+Created\s+Mounts\s+RO\s+Names$", lines[0]);
        Assert.Matches(@"^-+\s+-+\s+-+\s+-+\s+-+\s+-+$", lines[1]);
        Assert.Matches($@"^{parent.Id[..12]}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0\s+base$", lines[2]);
        Assert.Matches($@"^{child.Id[..12]} {parent.Id[..12]} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0 ro child$", lines[3]);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void RemovingALayerWithChildrenIsRefusedWithLayerHasChildren()
    {
        _engine.Run("New-Layer -Root $r -Name base; New-Layer -Root $r -Name child -Parent base").ThrowOnError();

        ErrorRecord error = _engine.Run("Remove-Layer -Root $r base").SingleError();

        Assert.Equal("LayerHasChildren,LayerTools.Commands.RemoveLayerCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceBusy, error.CategoryInfo.Category);
        Assert.Equal("Layer 'base' has 1 child (child); remove it first or use -Recurse.", error.Exception.Message);
        Assert.Equal(2, _engine.Run("Get-Layer -Root $r").ThrowOnError().Output.Count);
    }

    [Fact]
    public void WhatIfNamesTheResolvedLayerAndChangesNothing()
    {
        Layer layer = _engine.Run("New-Layer -Root $r -Name web").Single<Layer>();
        string before = File.ReadAllText(Path.Combine(_engine.Root, "layers.json"));

        string screen = _engine.Render("Get-Layer -Root $r web | Remove-Layer -WhatIf; Mount-Layer -Root $r web -WhatIf");

        Assert.Contains($"What if: Performing the operation \"Remove\" on target \"Layer 'web' ({layer.Id[..12]})\".", screen);
        Assert.Contains($"What if: Performing the operation \"Mount\" on target \"Layer 'web' ({layer.Id[..12]})\".", screen);
        Assert.Equal(before, File.ReadAllText(Path.Combine(_engine.Root, "layers.json")));
        Assert.Equal(0, _engine.Run("(Get-Layer -Root $r web).MountCount").Single<int>());
    }

    [Fact]
    public void ConfirmAsksAndHonoursTheAnswer()
    {
        _engine.Run("New-Layer -Root $r -Name web").ThrowOnError();

        _engine.Host.ConfirmAnswers.Enqueue("No");
        _engine.Run("Remove-Layer -Root $r web -Confirm").ThrowOnError();
        Assert.Single(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);

        _engine.Host.ConfirmAnswers.Enqueue("Yes");
        _engine.Run("Remove-Layer -Root $r web -Confirm").ThrowOnError();
        Assert.Empty(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
        Assert.Equal(2, _engine.Host.Prompts.Count);
        Assert.Contains("Layer 'web'", _engine.Host.Prompts[0]);
    }

    [Fact]
    public void LayersBindFromThePipelineById()
    {
        _engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b").ThrowOnError();

        LayerMount mount = _engine.Run("Get-Layer -Root $r a | Mount-Layer").Single<LayerMount>();
        Assert.Equal(1, mount.MountCount);
        _engine.Run("Mount-Layer -Root $r a | Dismount-Layer").ThrowOnError();
        Assert.Equal(1, _engine.Run("(Get-Layer -Root $r a).MountCount").Single<int>());
        _engine.Run($"Dismount-Layer -Root $r -Path '{mount.Path}'").ThrowOnError();
        Assert.False(Mounts.IsMountPoint(mount.Path));

        _engine.Run("Get-Layer -Root $r | Remove-Layer").ThrowOnError();
        Assert.Empty(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
    }

    [Fact]
    public void MountCountsSurviveAndDismountAtZero()
    {
        _engine.Run("New-Layer -Root $r -Name web").ThrowOnError();
        _engine.Run("Mount-Layer -Root $r web; Mount-Layer -Root $r web").ThrowOnError();
        LayerMount once = _engine.Run("Dismount-Layer -Root $r web -PassThru").Single<LayerMount>();
        Assert.Equal(1, once.MountCount);
        Assert.True(Mounts.IsMountPoint(once.Path));

        ErrorRecord busy = _engine.Run("Remove-Layer -Root $r web").SingleError();
        Assert.Equal("LayerMounted,LayerTools.Commands.RemoveLayerCommand", busy.FullyQualifiedErrorId);

        _engine.Run("Remove-Layer -Root $r web -Force").ThrowOnError();
        Assert.False(Mounts.IsMountPoint(once.Path));
        Assert.Empty(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
    }

    [Fact]
    public void GetLayerFindsByIdNamePrefixAndWildcard()
    {
        Layer web = _engine.Run("New-Layer -Root $r -Name web, web-alias").Single<Layer>();
        _engine.Run("New-Layer -Root $r -Name db").ThrowOnError();

        Assert.Equal(web.Id, _engine.Run($"Get-Layer -Root $r {web.Id}").Single<Layer>().Id);
        Assert.Equal(web.Id, _engine.Run("Get-Layer -Root $r web-alias").Single<Layer>().Id);
        Assert.Equal(web.Id, _engine.Run($"Get-Layer -Root $r {web.Id[..8]}").Single<Layer>().Id);
        Assert.Equal(web.Id, _engine.Run("Get-Layer -Root $r w*").Single<Layer>().Id);
        Assert.Empty(_engine.Run("Get-Layer -Root $r zz*").ThrowOnError().Output);

        ErrorRecord missing = _engine.Run("Get-Layer -Root $r nope").SingleError();
        Assert.Equal("LayerNotFound,LayerTools.Commands.GetLayerCommand", missing.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, missing.CategoryInfo.Category);
        Assert.Equal("nope", missing.TargetObject);
    }

    [Fact]
    public void SetLayerRenamesAndRefusesATakenName()
    {
        _engine.Run("New-Layer -Root $r -Name web; New-Layer -Root $r -Name db").ThrowOnError();

        Layer renamed = _engine.Run("Set-Layer -Root $r web -AddName frontend -RemoveName web -Metadata '{\"tier\":1}' -PassThru").Single<Layer>();
        Assert.Equal(["frontend"], renamed.Names);
        Assert.Equal("{\"tier\":1}", renamed.Metadata);

        ErrorRecord taken = _engine.Run("Set-Layer -Root $r db -AddName frontend").SingleError();
        Assert.Equal("LayerNameInUse,LayerTools.Commands.SetLayerCommand", taken.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceExists, taken.CategoryInfo.Category);
    }

    [Fact]
    public void RecurseRemovesAWholeChain()
    {
        _engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b -Parent a; New-Layer -Root $r -Name c -Parent b").ThrowOnError();
        _engine.Run("Remove-Layer -Root $r a -Recurse").ThrowOnError();
        Assert.Empty(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_engine.Root, "vfs", "dir")));
    }

    [Fact]
    public void GetLayerStoreDescribesTheStore()
    {
        _engine.Run("New-Layer -Root $r -Name web | Mount-Layer").ThrowOnError();
        LayerStore store = _engine.Run("Get-LayerStore -Root $r").Single<LayerStore>();
        Assert.Equal(_engine.Root, store.Root);
        Assert.Equal("vfs", store.Driver);
        Assert.Equal("ext4", store.BackingFilesystem);
        Assert.Equal(1, store.LayerCount);
        Assert.Equal(1, store.MountedCount);
        Assert.StartsWith("/run/layertools/", store.RunRoot);

        string[] table = _engine.Render("Get-LayerStore -Root $r").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^Root\s+Driver\s+Backing\s+Layers\s+Mounted\s*$", table[0]);
        Assert.Matches($@"^{_engine.Root}\s+vfs\s+ext4\s+1\s+1\s*$", table[2]);
    }

    [Fact]
    public void UnsupportedDriversFailWithDriverNotSupported()
    {
        ErrorRecord error = _engine.Run("Initialize-LayerStore -Root ($r + '-aufs') -Driver aufs").SingleError();
        Assert.Equal("DriverNotSupported,LayerTools.Commands.InitializeLayerStoreCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.NotInstalled, error.CategoryInfo.Category);
        Assert.Contains("overlay", error.Exception.Message);
    }

    [Fact]
    public void LayerNamesCompleteOnLayerParameters()
    {
        _engine.Run("New-Layer -Root $r -Name base-image; New-Layer -Root $r -Name other").ThrowOnError();
        foreach (string line in new[] { "Mount-Layer -Root $r ba", "New-Layer -Root $r -Parent ba", "Get-Layer -Root $r ba" })
        {
            var completions = _engine.Run($"(TabExpansion2 -inputScript '{line}' -cursorColumn {line.Length}).CompletionMatches.CompletionText").ThrowOnError()
                .Output.Select(o => o.ToString()).ToList();
            Assert.Equal(["base-image"], completions);
        }
    }

    [Fact]
    public void ProgressIsShownWhileALargeLayerIsCopied()
    {
        LayerMount mount = _engine.Run("New-Layer -Root $r -Name big | Mount-Layer").Single<LayerMount>();
        for (int d = 0; d < 100; d++)
        {
            string dir = Path.Combine(mount.Path, $"d{d:D3}");
            Directory.CreateDirectory(dir);
            for (int f = 0; f < 200; f++) File.WriteAllText(Path.Combine(dir, $"f{f:D3}"), "x");
        }
        _engine.Run("Dismount-Layer -Root $r big").ThrowOnError();

        _engine.Run("New-Layer -Root $r -Name copy -Parent big").ThrowOnError();

        // Progress appears only for work that lasts longer than half a second; copying 20,000 files takes ~2 s here.
        Assert.Contains(_engine.Host.Progress, p => p.Activity == "Copying layer" && p.RecordType == ProgressRecordType.Processing);
        Assert.Equal(ProgressRecordType.Completed, _engine.Host.Progress[^1].RecordType);
    }

    [Fact]
    public void OnlyNewLayerAndInitializeCreateAStore()
    {
        string missing = _engine.Root + "-typo";

        ErrorRecord error = _engine.Run($"Get-Layer -Root '{missing}'").SingleError();
        Assert.Equal("StoreNotFound,LayerTools.Commands.GetLayerCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Equal("StoreNotFound,LayerTools.Commands.GetLayerStoreCommand",
            _engine.Run($"Get-LayerStore -Root '{missing}'").SingleError().FullyQualifiedErrorId);
        _engine.Run($"New-Layer -Root '{missing}' -Name web -WhatIf").ThrowOnError();
        Assert.False(Directory.Exists(missing));

        Layer created = _engine.Run($"New-Layer -Root '{missing}' -Name web").Single<Layer>();
        Assert.Equal("overlay", created.Driver);
        Assert.True(File.Exists(Path.Combine(missing, "store.json")));
        _engine.Run($"Remove-Layer -Root '{missing}' web; [IO.Directory]::Delete('{missing}', $true)").ThrowOnError();
    }

    [Fact]
    public void DismountByPathFindsTheStoreOfTheMount()
    {
        LayerMount mount = _engine.Run("New-Layer -Root $r -Name web | Mount-Layer").Single<LayerMount>();

        LayerMount after = _engine.Run($"Dismount-Layer -Path '{mount.Path}/' -PassThru").Single<LayerMount>();

        Assert.Equal(0, after.MountCount);
        Assert.Equal(_engine.Root, after.Root);
        Assert.False(Mounts.IsMountPoint(mount.Path));
    }

    [Fact]
    public void AMountPipesBackToItsLayer()
    {
        Layer web = _engine.Run("New-Layer -Root $r -Name web").Single<Layer>();
        Layer found = _engine.Run("Mount-Layer -Root $r web | Get-Layer").Single<Layer>();
        Assert.Equal(web.Id, found.Id);
        Assert.Equal(1, found.MountCount);
    }

    [Fact]
    public void RemovingAWholeStoreWithRecurseReportsNoMissingDescendants()
    {
        _engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b -Parent a; New-Layer -Root $r -Name c -Parent b; New-Layer -Root $r -Name d").ThrowOnError();
        _engine.Run("Get-Layer -Root $r | Remove-Layer -Recurse").ThrowOnError();
        Assert.Empty(_engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
    }
}
