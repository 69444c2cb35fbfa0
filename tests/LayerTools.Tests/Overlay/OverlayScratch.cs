using LayerTools.Drivers.Overlay;
using LayerTools.Native;
using LayerTools.Tests.Store;

namespace LayerTools.Tests.Overlay;

/// <summary>
/// An overlay driver in a scratch directory, for tests that talk to the driver without a store.
/// Disposing takes down every mount under the directory, whatever state the test left.
/// </summary>
public sealed class OverlayScratch : IDisposable
{
    private readonly ScratchStore _scratch = new();

    public OverlayScratch(string? homeName = null)
    {
        Home = Path.Combine(_scratch.Location, homeName ?? "overlay");
        Driver = new OverlayDriver(Home);
    }

    public string Home { get; }
    public string Location => _scratch.Location;
    public OverlayDriver Driver { get; }

    public string Diff(string id) => Path.Combine(Home, id, "diff");

    public string LayerFile(string id, string name) => File.ReadAllText(Path.Combine(Home, id, name));

    public IReadOnlyList<string> MountsUnder() => _scratch.MountsUnder();

    public static string NewId() => Convert.ToHexString(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray()).ToLowerInvariant();

    /// <summary>The file-system-specific options of the mount at <paramref name="mountPoint"/> (the last field of its mountinfo line).</summary>
    public static string SuperOptions(string mountPoint)
    {
        // The last line for a mount point is the mount on top.
        string? options = null;
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            if (fields[4] == mountPoint) options = fields[^1];
        }
        return options ?? throw new InvalidOperationException($"nothing is mounted at {mountPoint}");
    }

    /// <summary>The file system type of the mount at <paramref name="mountPoint"/>.</summary>
    public static string FilesystemType(string mountPoint) =>
        MountInfo.ReadAll().Last(m => m.MountPoint == mountPoint).FilesystemType;

    public void Dispose() => _scratch.Dispose();
}
