using System.Management.Automation;
using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests.Cmdlets;

/// <summary>
/// The user stories of the foundation, run through the real engine with the assembled module, once per driver
/// (the classes at the end).
/// </summary>
public abstract class LayerCmdletTests(string driver) : IDisposable
{
    protected HostedEngine Engine { get; } = new(driver);

    public void Dispose() => Engine.Dispose();

    [Fact]
    public void ChildOfAMountedAndWrittenBaseHasTheSameTreeByEveryAttribute()
    {
        Engine.Run("New-Layer -Root $r -Name base").ThrowOnError();
        LayerMount mount = Engine.Run("Mount-Layer -Root $r base").Single<LayerMount>();
        Assert.True(Mounts.IsMountPoint(mount.Path));
        FixtureTree.Build(mount.Path, FixtureTree.NetBindServiceCapability());
        Engine.Run("Dismount-Layer -Root $r base").ThrowOnError();
        Assert.False(Mounts.IsMountPoint(mount.Path));

        Engine.Run("New-Layer -Root $r -Name child -Parent base").ThrowOnError();
        string baseTree = Engine.Run("Mount-Layer -Root $r base -ReadOnly").Single<LayerMount>().Path;
        string childTree = Engine.Run("Mount-Layer -Root $r child").Single<LayerMount>().Path;

        TreeSnapshot expected = TreeSnapshot.Take(baseTree);
        Assert.Empty(TreeSnapshot.Take(childTree).DifferencesFrom(expected));
        Assert.True(expected.Entries.Count > 30, $"only {expected.Entries.Count} entries were compared");
        Assert.Equal(FixtureTree.Octal("4755"), Fs.Lstat(Path.Combine(childTree, "usr/bin/su")).Permissions);
    }

    [Fact]
    public void GetLayerPrintsATableOfTheLayers()
    {
        Engine.Run("New-Layer -Root $r -Name base; New-Layer -Root $r -Name child -Parent base -ReadOnly").ThrowOnError();
        var layers = Engine.Run("Get-Layer -Root $r").ThrowOnError().Output.Select(o => (Layer)o.BaseObject).ToList();
        Layer parent = layers.Single(l => l.Names.Contains("base"));
        Layer child = layers.Single(l => l.Names.Contains("child"));

        string[] lines = Engine.Render("Get-Layer -Root $r").Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToArray();

        Assert.Matches(@"^Id\s+Parent\s+Created\s+Mounts\s+RO\s+Names$", lines[0]);
        Assert.Matches(@"^-+\s+-+\s+-+\s+-+\s+-+\s+-+$", lines[1]);
        Assert.Matches($@"^{parent.Id[..12]}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0\s+base$", lines[2]);
        Assert.Matches($@"^{child.Id[..12]} {parent.Id[..12]} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0 ro child$", lines[3]);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public void RemovingALayerWithChildrenIsRefusedWithLayerHasChildren()
    {
        Engine.Run("New-Layer -Root $r -Name base; New-Layer -Root $r -Name child -Parent base").ThrowOnError();

        ErrorRecord error = Engine.Run("Remove-Layer -Root $r base").SingleError();

        Assert.Equal("LayerHasChildren,LayerTools.Commands.RemoveLayerCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceBusy, error.CategoryInfo.Category);
        Assert.Equal("Layer 'base' has 1 child (child); remove it first or use -Recurse.", error.Exception.Message);
        Assert.Equal(2, Engine.Run("Get-Layer -Root $r").ThrowOnError().Output.Count);
    }

    [Fact]
    public void WhatIfNamesTheResolvedLayerAndChangesNothing()
    {
        Layer layer = Engine.Run("New-Layer -Root $r -Name web").Single<Layer>();
        string before = File.ReadAllText(Path.Combine(Engine.Root, "layers.json"));

        string screen = Engine.Render("Get-Layer -Root $r web | Remove-Layer -WhatIf; Mount-Layer -Root $r web -WhatIf");

        Assert.Contains($"What if: Performing the operation \"Remove\" on target \"Layer 'web' ({layer.Id[..12]})\".", screen);
        Assert.Contains($"What if: Performing the operation \"Mount\" on target \"Layer 'web' ({layer.Id[..12]})\".", screen);
        Assert.Equal(before, File.ReadAllText(Path.Combine(Engine.Root, "layers.json")));
        Assert.Equal(0, Engine.Run("(Get-Layer -Root $r web).MountCount").Single<int>());
    }

    [Fact]
    public void ConfirmAsksAndHonoursTheAnswer()
    {
        Engine.Run("New-Layer -Root $r -Name web").ThrowOnError();

        Engine.Host.ConfirmAnswers.Enqueue("No");
        Engine.Run("Remove-Layer -Root $r web -Confirm").ThrowOnError();
        Assert.Single(Engine.Run("Get-Layer -Root $r").ThrowOnError().Output);

        Engine.Host.ConfirmAnswers.Enqueue("Yes");
        Engine.Run("Remove-Layer -Root $r web -Confirm").ThrowOnError();
        Assert.Empty(Engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
        Assert.Equal(2, Engine.Host.Prompts.Count);
        Assert.Contains("Layer 'web'", Engine.Host.Prompts[0]);
    }

    [Fact]
    public void LayersBindFromThePipelineById()
    {
        Engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b").ThrowOnError();

        LayerMount mount = Engine.Run("Get-Layer -Root $r a | Mount-Layer").Single<LayerMount>();
        Assert.Equal(1, mount.MountCount);
        Engine.Run("Mount-Layer -Root $r a | Dismount-Layer").ThrowOnError();
        Assert.Equal(1, Engine.Run("(Get-Layer -Root $r a).MountCount").Single<int>());
        Engine.Run($"Dismount-Layer -Root $r -Path '{mount.Path}'").ThrowOnError();
        Assert.False(Mounts.IsMountPoint(mount.Path));

        Engine.Run("Get-Layer -Root $r | Remove-Layer").ThrowOnError();
        Assert.Empty(Engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
    }

    [Fact]
    public void MountCountsSurviveAndDismountAtZero()
    {
        Engine.Run("New-Layer -Root $r -Name web").ThrowOnError();
        Engine.Run("Mount-Layer -Root $r web; Mount-Layer -Root $r web").ThrowOnError();
        LayerMount once = Engine.Run("Dismount-Layer -Root $r web -PassThru").Single<LayerMount>();
        Assert.Equal(1, once.MountCount);
        Assert.True(Mounts.IsMountPoint(once.Path));

        ErrorRecord busy = Engine.Run("Remove-Layer -Root $r web").SingleError();
        Assert.Equal("LayerMounted,LayerTools.Commands.RemoveLayerCommand", busy.FullyQualifiedErrorId);

        Engine.Run("Remove-Layer -Root $r web -Force").ThrowOnError();
        Assert.False(Mounts.IsMountPoint(once.Path));
        Assert.Empty(Engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
    }

    [Fact]
    public void GetLayerFindsByIdNamePrefixAndWildcard()
    {
        Layer web = Engine.Run("New-Layer -Root $r -Name web, web-alias").Single<Layer>();
        Engine.Run("New-Layer -Root $r -Name db").ThrowOnError();

        Assert.Equal(web.Id, Engine.Run($"Get-Layer -Root $r {web.Id}").Single<Layer>().Id);
        Assert.Equal(web.Id, Engine.Run("Get-Layer -Root $r web-alias").Single<Layer>().Id);
        Assert.Equal(web.Id, Engine.Run($"Get-Layer -Root $r {web.Id[..8]}").Single<Layer>().Id);
        Assert.Equal(web.Id, Engine.Run("Get-Layer -Root $r w*").Single<Layer>().Id);
        Assert.Empty(Engine.Run("Get-Layer -Root $r zz*").ThrowOnError().Output);

        ErrorRecord missing = Engine.Run("Get-Layer -Root $r nope").SingleError();
        Assert.Equal("LayerNotFound,LayerTools.Commands.GetLayerCommand", missing.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, missing.CategoryInfo.Category);
        Assert.Equal("nope", missing.TargetObject);
    }

    [Fact]
    public void SetLayerRenamesAndRefusesATakenName()
    {
        Engine.Run("New-Layer -Root $r -Name web; New-Layer -Root $r -Name db").ThrowOnError();

        Layer renamed = Engine.Run("Set-Layer -Root $r web -AddName frontend -RemoveName web -Metadata '{\"tier\":1}' -PassThru").Single<Layer>();
        Assert.Equal(["frontend"], renamed.Names);
        Assert.Equal("{\"tier\":1}", renamed.Metadata);

        ErrorRecord taken = Engine.Run("Set-Layer -Root $r db -AddName frontend").SingleError();
        Assert.Equal("LayerNameInUse,LayerTools.Commands.SetLayerCommand", taken.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceExists, taken.CategoryInfo.Category);
    }

    [Fact]
    public void RecurseRemovesAWholeChain()
    {
        Engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b -Parent a; New-Layer -Root $r -Name c -Parent b").ThrowOnError();
        Engine.Run("Remove-Layer -Root $r a -Recurse").ThrowOnError();
        Assert.Empty(Engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
        Assert.Empty(Engine.Layout.LayerIds());
    }

    [Fact]
    public void GetLayerStoreDescribesTheStore()
    {
        Engine.Run("New-Layer -Root $r -Name web | Mount-Layer").ThrowOnError();
        LayerStore store = Engine.Run("Get-LayerStore -Root $r").Single<LayerStore>();
        Assert.Equal(Engine.Root, store.Root);
        Assert.Equal(Engine.Driver, store.Driver);
        Assert.Equal("ext4", store.BackingFilesystem);
        Assert.Equal(1, store.LayerCount);
        Assert.Equal(1, store.MountedCount);
        Assert.StartsWith("/run/layertools/", store.RunRoot);

        string[] table = Engine.Render("Get-LayerStore -Root $r").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^Root\s+Driver\s+Backing\s+Layers\s+Mounted\s*$", table[0]);
        Assert.Matches($@"^{Engine.Root}\s+{Engine.Driver}\s+ext4\s+1\s+1\s*$", table[2]);
    }

    [Fact]
    public void LayerNamesCompleteOnLayerParameters()
    {
        Engine.Run("New-Layer -Root $r -Name web-image; New-Layer -Root $r -Name other").ThrowOnError();
        // Ids complete too; no id can start with "we", as ids are hexadecimal.
        foreach (string line in new[] { "Mount-Layer -Root $r we", "New-Layer -Root $r -Parent we", "Get-Layer -Root $r we" })
        {
            var completions = Engine.Run($"(TabExpansion2 -inputScript '{line}' -cursorColumn {line.Length}).CompletionMatches.CompletionText").ThrowOnError()
                .Output.Select(o => o.ToString()).ToList();
            Assert.Equal(["web-image"], completions);
        }
    }

    [Fact]
    public void DismountByPathFindsTheStoreOfTheMount()
    {
        LayerMount mount = Engine.Run("New-Layer -Root $r -Name web | Mount-Layer").Single<LayerMount>();

        LayerMount after = Engine.Run($"Dismount-Layer -Path '{mount.Path}/' -PassThru").Single<LayerMount>();

        Assert.Equal(0, after.MountCount);
        Assert.Equal(Engine.Root, after.Root);
        Assert.False(Mounts.IsMountPoint(mount.Path));
    }

    [Fact]
    public void AMountPipesBackToItsLayer()
    {
        Layer web = Engine.Run("New-Layer -Root $r -Name web").Single<Layer>();
        Layer found = Engine.Run("Mount-Layer -Root $r web | Get-Layer").Single<Layer>();
        Assert.Equal(web.Id, found.Id);
        Assert.Equal(1, found.MountCount);
    }

    [Fact]
    public void RemovingAWholeStoreWithRecurseReportsNoMissingDescendants()
    {
        Engine.Run("New-Layer -Root $r -Name a; New-Layer -Root $r -Name b -Parent a; New-Layer -Root $r -Name c -Parent b; New-Layer -Root $r -Name d").ThrowOnError();
        Engine.Run("Get-Layer -Root $r | Remove-Layer -Recurse").ThrowOnError();
        Assert.Empty(Engine.Run("Get-Layer -Root $r").ThrowOnError().Output);
    }
}

/// <summary>The stories on vfs, and one only vfs has: a child is a copy of its parent, which takes long enough to show progress.</summary>
public sealed class VfsLayerCmdletTests() : LayerCmdletTests("vfs")
{
    [Fact]
    public void ProgressIsShownWhileALargeLayerIsCopied()
    {
        LayerMount mount = Engine.Run("New-Layer -Root $r -Name big | Mount-Layer").Single<LayerMount>();
        for (int d = 0; d < 150; d++)
        {
            string dir = Path.Combine(mount.Path, $"d{d:D3}");
            Directory.CreateDirectory(dir);
            for (int f = 0; f < 200; f++) File.WriteAllText(Path.Combine(dir, $"f{f:D3}"), "x");
        }
        Engine.Run("Dismount-Layer -Root $r big").ThrowOnError();

        Engine.Run("New-Layer -Root $r -Name copy -Parent big").ThrowOnError();

        // Progress appears only for work that lasts longer than half a second; copying 30,000 files takes about 1 s here.
        Assert.Contains(Engine.Host.Progress, p => p.Activity == "Copying layer" && p.RecordType == ProgressRecordType.Processing);
        Assert.Equal(ProgressRecordType.Completed, Engine.Host.Progress[^1].RecordType);
    }
}

public sealed class OverlayLayerCmdletTests() : LayerCmdletTests("overlay");
