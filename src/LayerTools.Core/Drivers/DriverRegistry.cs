using LayerTools.Drivers.Overlay;
using LayerTools.Drivers.Vfs;

namespace LayerTools.Drivers;

/// <summary>The drivers LayerTools knows by name, which of them this host can run, and the best default.</summary>
public static class DriverRegistry
{
    public static IReadOnlyList<string> Names { get; } = ["vfs", "overlay", "devicemapper", "aufs"];

    /// <summary>
    /// The driver a new store at <paramref name="storeRoot"/> gets when none is asked for: the best that works
    /// there, as Docker picks its graph driver. That is overlay, unless the check finds it cannot run there
    /// (then <paramref name="whyNotOverlay"/> says why) and vfs, which runs anywhere, is chosen instead.
    /// </summary>
    public static string DefaultFor(string storeRoot, out string? whyNotOverlay)
    {
        // The check removes the directories it made when overlay fails, so a vfs store keeps no empty overlay directory.
        whyNotOverlay = OverlayDriver.CheckSupported(Path.Combine(storeRoot, "overlay"));
        return whyNotOverlay is null ? "overlay" : "vfs";
    }

    public static ILayerDriver Create(string name, string storeRoot)
    {
        string home = Path.Combine(storeRoot, name);
        return name switch
        {
            "vfs" => new VfsDriver(home),
            "overlay" => new OverlayDriver(home),
            _ => throw NotSupported(name),
        };
    }

    /// <summary>Throws DriverNotSupported unless the driver can keep layers in a store at <paramref name="storeRoot"/>.</summary>
    public static void EnsureSupported(string name, string storeRoot)
    {
        switch (name)
        {
            case "vfs":
                return;
            case "overlay":
                if (OverlayDriver.CheckSupported(Path.Combine(storeRoot, name)) is { } reason)
                    throw new LayerToolsException(LayerError.DriverNotSupported,
                        $"The overlay driver cannot run in store '{storeRoot}': {reason} Use -Driver vfs there instead.", name);
                return;
            default:
                throw NotSupported(name);
        }
    }

    private static LayerToolsException NotSupported(string name) => name switch
    {
        "aufs" => new(LayerError.DriverNotSupported,
            "The aufs driver needs the aufs kernel module, which is in no mainline kernel. Use -Driver overlay (kernel overlayfs) instead.", name),
        "devicemapper" => new(LayerError.DriverNotSupported,
            $"The {name} driver is not available in this build of LayerTools yet. Use -Driver vfs.", name),
        _ => new(LayerError.DriverNotSupported,
            $"Unknown driver '{name}'. Known drivers: {string.Join(", ", Names)}.", name),
    };
}
