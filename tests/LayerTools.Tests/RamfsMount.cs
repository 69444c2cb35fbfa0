using LayerTools.Native;

namespace LayerTools.Tests;

/// <summary>
/// A ramfs mounted at a new directory: a file system where overlayfs mounts but, as ramfs has no xattrs, cannot
/// make a deleted directory opaque, so the overlay driver's check refuses it only after its probe made directories.
/// </summary>
public sealed class RamfsMount : IDisposable
{
    public RamfsMount(string path)
    {
        Path = path;
        Directory.CreateDirectory(path);
        MountApi.Mount("ramfs", "ramfs", path, "", readOnly: false);
    }

    public string Path { get; }

    /// <summary>Detaches the ramfs with whatever is mounted inside it, which frees all it held.</summary>
    public void Dispose()
    {
        Mounts.Unmount(Path, lazy: true);
        Directory.Delete(Path);
    }
}
