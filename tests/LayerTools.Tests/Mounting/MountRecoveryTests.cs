using System.Management.Automation;
using LayerTools.Native;
using LayerTools.Shell;
using LayerTools.Store;
using LayerTools.Tests.Cmdlets;
using LayerTools.Tests.Store;
using Xunit;

namespace LayerTools.Tests.Mounting;

/// <summary>
/// Mounts the store did not count, and mounts too busy to take down: what a crash or a shell still
/// working in a layer leaves behind, on every driver that mounts.
/// </summary>
public sealed class MountRecoveryTests : IDisposable
{
    private readonly ScratchStore _store = new();

    public void Dispose() => _store.Dispose();

    public static TheoryData<string> Drivers => new("vfs", "overlay");

    [Theory]
    [MemberData(nameof(Drivers))]
    public void A_mount_left_by_a_process_that_died_before_recording_it_is_detached_by_the_next_writer(string driver)
    {
        StoreEngine store = StoreEngine.Initialize(_store.Options, driver, force: false);
        Layer layer = store.Create(new LayerSpec { Names = ["app"] });
        // What a crash between the mount and the mount table's update leaves: a mount nobody counts, twice over.
        string path = store.Driver.Mount(layer.Id, readOnly: false);
        store.Driver.Mount(layer.Id, readOnly: false);

        store.Create(new LayerSpec { Names = ["other"] });

        Assert.False(Mounts.IsMountPoint(path));
        Assert.Contains(_store.Warnings, w => w.Contains(layer.Id) && w.Contains("no record of who mounted it"));
        LayerMount again = store.Mount("app", readOnly: false);
        Assert.Equal(1, again.MountCount);
        store.Unmount("app", force: false);
        Assert.False(Mounts.IsMountPoint(path));
    }

    [Theory]
    [MemberData(nameof(Drivers))]
    public void A_mount_whose_run_directory_was_emptied_is_detached_when_the_store_is_next_written(string driver)
    {
        StoreEngine store = StoreEngine.Initialize(_store.Options, driver, force: false);
        store.Create(new LayerSpec { Names = ["app"] });
        string path = store.Mount("app", readOnly: true).Path;
        Directory.Delete(_store.RunRoot, recursive: true);

        Assert.Equal(0, store.Get("app").MountCount);
        store.Update("app", ["renamed"], [], null);

        Assert.False(Mounts.IsMountPoint(path));
        Assert.Single(_store.Warnings, w => w.Contains("no record of who mounted it"));
    }

    [Theory]
    [MemberData(nameof(Drivers))]
    public void Dismount_Force_detaches_a_busy_mount_lazily_and_says_so(string driver)
    {
        using var engine = new HostedEngine(driver);
        string path = engine.Run("New-Layer -Root $r -Name app | Mount-Layer | ForEach-Object Path").Single<string>();
        File.WriteAllText(Path.Join(path, "open.txt"), "still being read\n");

        using (var reader = new StreamReader(Path.Join(path, "open.txt")))
        {
            ErrorRecord busy = engine.Run("Dismount-Layer -Root $r app").SingleError();
            Assert.Equal("LayerMounted,LayerTools.Commands.DismountLayerCommand", busy.FullyQualifiedErrorId);
            Assert.Contains("busy", busy.Exception.Message);
            Assert.True(Mounts.IsMountPoint(path));

            ScriptResult forced = engine.Run("Dismount-Layer -Root $r app -Force");

            Assert.False(forced.HadErrors);
            Assert.Contains(forced.Warnings, w => w.Contains("detached lazily") && w.Contains(path));
            Assert.False(Mounts.IsMountPoint(path));
            Assert.Equal(0, engine.Run("Get-Layer -Root $r app").Single<Layer>().MountCount);
            // The process that had the file open keeps reading it from the detached mount.
            Assert.Equal("still being read", reader.ReadLine());
        }
    }
}
