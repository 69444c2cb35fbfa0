using LayerTools.Native;

namespace LayerTools.Drivers.Vfs;

/// <summary>
/// Every layer is a full copy of its parent's tree (home/dir/ID). Slow and large, but works on any
/// file system and needs nothing from the kernel; mounts are bind mounts (home/mnt/ID) so a read-only
/// mount is really read-only and a mount is a real kernel object the store can check.
/// </summary>
public sealed class VfsDriver : ILayerDriver
{
    private readonly string _home;

    public VfsDriver(string home)
    {
        _home = home;
        Directory.CreateDirectory(Path.Combine(home, "dir"));
        Directory.CreateDirectory(Path.Combine(home, "mnt"));
    }

    public string Name => "vfs";

    public bool SharesAncestors => false;

    public void Create(string id, string? parentId, Action<WorkProgress>? progress)
    {
        string tree = TreePath(id);
        if (parentId is null)
            Fs.Mkdir(tree, 0x1ED /* 0755 */);
        else
            TreeCopy.Copy(TreePath(parentId), tree, progress);
    }

    public void Remove(string id)
    {
        string mount = MountPath(id);
        if (Mounts.IsMountPoint(mount)) Mounts.Unmount(mount, lazy: true);
        if (Directory.Exists(mount)) Directory.Delete(mount);
        TreeRemoval.Remove(TreePath(id));
    }

    public bool Exists(string id) => Directory.Exists(TreePath(id));

    public string Mount(string id, bool readOnly)
    {
        string mount = MountPath(id);
        Directory.CreateDirectory(mount);
        Mounts.Bind(TreePath(id), mount, readOnly);
        return mount;
    }

    public void Unmount(string id, bool lazy)
    {
        string mount = MountPath(id);
        if (Mounts.IsMountPoint(mount)) Mounts.Unmount(mount, lazy);
    }

    public string MountPath(string id) => Path.Combine(_home, "mnt", id);

    public string OwnFilesDirectory(string id) => TreePath(id);

    public string? PlainTree(string id) => TreePath(id);

    public IReadOnlyDictionary<string, string> Status() => new Dictionary<string, string>
    {
        ["Layers"] = Path.Combine(_home, "dir"),
        ["Copy"] = "full tree copy per layer (reflink or copy_file_range, sparse-aware, files on every core)",
    };

    public void Cleanup()
    {
        foreach (string mount in Directory.EnumerateDirectories(Path.Combine(_home, "mnt")))
            if (Mounts.IsMountPoint(mount)) Mounts.Unmount(mount, lazy: true);
    }

    private string TreePath(string id) => Path.Combine(_home, "dir", id);
}
