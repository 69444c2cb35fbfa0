using LayerTools.Drivers.Vfs;

namespace LayerTools.Drivers;

/// <summary>The drivers LayerTools knows by name, which of them this host can run, and the best default.</summary>
public static class DriverRegistry
{
    public static IReadOnlyList<string> Names { get; } = ["vfs", "overlay", "devicemapper", "aufs"];

    /// <summary>The driver a store gets when none is asked for: the best this host supports.</summary>
    public static string Default => "vfs";

    public static ILayerDriver Create(string name, string storeRoot)
    {
        string home = Path.Combine(storeRoot, name);
        return name switch
        {
            "vfs" => new VfsDriver(home),
            _ => throw NotSupported(name),
        };
    }

    public static void EnsureSupported(string name)
    {
        if (name != "vfs") throw NotSupported(name);
    }

    private static LayerToolsException NotSupported(string name) => name switch
    {
        "aufs" => new(LayerError.DriverNotSupported,
            "The aufs driver needs the aufs kernel module, which is in no mainline kernel. Use -Driver overlay (kernel overlayfs) instead.", name),
        "overlay" or "devicemapper" => new(LayerError.DriverNotSupported,
            $"The {name} driver is not available in this build of LayerTools yet. Use -Driver vfs.", name),
        _ => new(LayerError.DriverNotSupported,
            $"Unknown driver '{name}'. Known drivers: {string.Join(", ", Names)}.", name),
    };
}
