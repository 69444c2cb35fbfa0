using System.Management.Automation;
using LayerTools.Shell;
using Xunit;

namespace LayerTools.Tests.Cmdlets;

/// <summary>
/// How the cmdlets make a store: which of them do, with which driver, and which drivers they refuse. These are
/// about new stores beside the engine's own, whatever its driver, so they run once.
/// </summary>
public sealed class NewStoreCmdletTests : IDisposable
{
    private readonly HostedEngine _engine = new();

    public void Dispose() => _engine.Dispose();

    [Fact]
    public void UnsupportedDriversFailWithDriverNotSupported()
    {
        ErrorRecord error = _engine.Run("Initialize-LayerStore -Root ($r + '-aufs') -Driver aufs").SingleError();
        Assert.Equal("DriverNotSupported,LayerTools.Commands.InitializeLayerStoreCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.NotInstalled, error.CategoryInfo.Category);
        Assert.Contains("overlay", error.Exception.Message);
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

        // The store is made with the best driver for the host: overlay on the ext4 these tests run on.
        Layer created = _engine.Run($"New-Layer -Root '{missing}' -Name web").Single<Layer>();
        Assert.Equal("overlay", created.Driver);
        Assert.True(File.Exists(Path.Combine(missing, "store.json")));
        _engine.Run($"Remove-Layer -Root '{missing}' web; [IO.Directory]::Delete('{missing}', $true)").ThrowOnError();
    }

    [Fact]
    public void WhereOverlayCannotRunNewLayerMakesAVfsStoreAndWarnsWhy()
    {
        using var ramfs = new RamfsMount(Path.Combine(Path.GetDirectoryName(_engine.Root)!, "ramfs"));
        string root = Path.Combine(ramfs.Path, "store");

        ScriptResult made = _engine.Run($"New-Layer -Root '{root}' -Name web");

        Assert.Equal("vfs", made.Single<Layer>().Driver);
        string warning = Assert.Single(made.Warnings);
        Assert.StartsWith($"Store '{root}' gets the vfs driver, which copies every layer in full, because the overlay driver cannot run there: ", warning);
        Assert.Contains("ramfs", warning);
        // Only the first use chooses; the store stays vfs without another warning.
        Assert.Empty(_engine.Run($"New-Layer -Root '{root}' -Name db").ThrowOnError().Warnings);
        Assert.Equal("vfs", _engine.Run($"(Get-LayerStore -Root '{root}').Driver").Single<string>());
    }
}
