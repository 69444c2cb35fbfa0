namespace LayerTools.Tests;

/// <summary>
/// Where a driver keeps a store's layers on disk, so a test can look there whichever driver runs.
/// vfs: a whole tree per layer at vfs/dir/ID, mounted at vfs/mnt/ID. overlay: overlay/ID/{diff,work,merged,lower,link},
/// plus the driver's own overlay/l (short links) and overlay/empty.
/// </summary>
public sealed class DriverLayout(string driver, string storeRoot)
{
    private static readonly string[] OverlayOwnDirectories = ["l", "empty"];

    public string Driver => driver;

    /// <summary>The directory that holds one entry per layer (what the driver's Status calls Layers).</summary>
    public string LayersDirectory => driver switch
    {
        "vfs" => Path.Combine(storeRoot, "vfs", "dir"),
        "overlay" => Path.Combine(storeRoot, "overlay"),
        _ => throw Unknown(),
    };

    /// <summary>
    /// The directory of the layer's own files: vfs's whole tree, overlay's upper (diff) directory, which is the
    /// whole tree only for a base layer. Files written here while the layer is unmounted are the layer's.
    /// </summary>
    public string OwnTree(string id) => driver switch
    {
        "vfs" => Path.Combine(LayersDirectory, id),
        "overlay" => Path.Combine(LayersDirectory, id, "diff"),
        _ => throw Unknown(),
    };

    public string MountPath(string id) => driver switch
    {
        "vfs" => Path.Combine(storeRoot, "vfs", "mnt", id),
        "overlay" => Path.Combine(LayersDirectory, id, "merged"),
        _ => throw Unknown(),
    };

    /// <summary>The ids of the layers the driver keeps a directory for, sorted; anything else left there shows up too.</summary>
    public IReadOnlyList<string> LayerIds() =>
        Directory.EnumerateDirectories(LayersDirectory)
            .Select(path => Path.GetFileName(path))
            .Where(name => driver != "overlay" || !OverlayOwnDirectories.Contains(name))
            .Order()
            .ToList();

    private InvalidOperationException Unknown() => new($"The tests know no layout for the {driver} driver.");
}
