using LayerTools.Tests.Archive;

namespace LayerTools.Tests.Diffs;

/// <summary>
/// A Debian bookworm minbase root file system made by debootstrap, and its tarball made by GNU tar
/// (--numeric-owner --xattrs). Building it takes minutes (debootstrap is installed from Debian's packages
/// if missing), so it is kept under /var/tmp/layertools-rootfs and reused by later runs on the same machine.
/// </summary>
public static class DebianRootfs
{
    private static readonly Lazy<(string Tree, string Tarball)> Built = new(Build);

    public static string Directory { get; } =
        Environment.GetEnvironmentVariable("LAYERTOOLS_ROOTFS_DIR") is { Length: > 0 } dir ? dir : "/var/tmp/layertools-rootfs";

    public static string Tree => Built.Value.Tree;
    public static string Tarball => Built.Value.Tarball;

    private static (string, string) Build()
    {
        string tree = Path.Combine(Directory, "bookworm");
        string tarball = Path.Combine(Directory, "bookworm-minbase.tar");
        if (File.Exists(tarball)) return (tree, tarball);
        if (!File.Exists("/usr/sbin/debootstrap"))
        {
            // The README's test command must work on a machine that has only the .NET SDK (as root).
            ExternalTool.Run("apt-get", "update", "-qq");
            ExternalTool.Run("apt-get", "install", "-y", "-qq", "debootstrap");
        }

        System.IO.Directory.CreateDirectory(Directory);
        string building = tree + ".building";
        if (System.IO.Directory.Exists(building)) System.IO.Directory.Delete(building, recursive: true);
        ExternalTool.Run("/usr/sbin/debootstrap", "--variant=minbase", "bookworm", building);
        if (System.IO.Directory.Exists(tree)) System.IO.Directory.Delete(tree, recursive: true);
        System.IO.Directory.Move(building, tree);
        ExternalTool.Run("tar", "--numeric-owner", "--xattrs", "-cf", tarball + ".part", "-C", tree, ".");
        File.Move(tarball + ".part", tarball);
        return (tree, tarball);
    }
}
