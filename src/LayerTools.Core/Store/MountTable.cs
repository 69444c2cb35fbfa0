using LayerTools.Native;

namespace LayerTools.Store;

/// <summary>One mounted layer in the run directory: how many users hold it, where, and how.</summary>
public sealed class MountEntry
{
    public int Count { get; set; }
    public required string Path { get; set; }
    public bool ReadOnly { get; set; }
}

/// <summary>
/// Mount counts of one store, kept on tmpfs (run dir) so they are shared by every process and
/// vanish with a reboot, as the mounts themselves do. Written only under the store lock.
/// </summary>
public sealed class MountTable
{
    private readonly string _file;
    private readonly MountFile _content;

    private MountTable(string file, MountFile content)
    {
        _file = file;
        _content = content;
    }

    /// <summary>The store these mounts belong to, so a mount path alone leads back to its store.</summary>
    public string? Root => _content.Root;

    public Dictionary<string, MountEntry> Entries => _content.Layers;

    /// <summary>Reads the table of a run directory; <paramref name="root"/> is recorded on the next save.</summary>
    public static MountTable Load(string runDirectory, string? root)
    {
        string file = System.IO.Path.Combine(runDirectory, "mounts.json");
        MountFile content = MetadataFile.Read<MountFile>(file) ?? new MountFile();
        content.Root ??= root;
        return new MountTable(file, content);
    }

    public void Save()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_file)!);
        MetadataFile.Write(_file, _content);
    }

    /// <summary>The entry for a layer if its mount is still there; a mount taken down behind our back counts as none.</summary>
    public MountEntry? Live(string id) =>
        Entries.TryGetValue(id, out MountEntry? entry) && entry.Count > 0 && Mounts.IsMountPoint(entry.Path) ? entry : null;

    /// <summary>Drops entries whose mount vanished (unmounted by hand, or a reboot emptied it); returns the layer ids dropped.</summary>
    public IReadOnlyList<string> DropVanished()
    {
        var vanished = Entries.Keys.Where(id => Live(id) is null).ToList();
        foreach (string id in vanished) Entries.Remove(id);
        return vanished;
    }
}

/// <summary>mounts.json: the store's root and its mounted layers by id.</summary>
public sealed class MountFile
{
    public string? Root { get; set; }
    public Dictionary<string, MountEntry> Layers { get; set; } = new();
}
