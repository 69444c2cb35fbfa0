using System.Security.Cryptography;
using LayerTools.Native;

namespace LayerTools.Drivers.Overlay;

/// <summary>
/// Whether overlay layers work in a directory: the kernel has overlayfs, the backing file system is not
/// an overlay itself and reports d_type, and a test mount there can delete a lower file (a whiteout)
/// and make a deleted lower directory again (an opaque directory), the two things a diff is made of.
/// </summary>
internal static class OverlaySupport
{
    private const uint PrivateDirectory = 0x1C0; // 0700

    /// <summary>Null if overlay layers work under <paramref name="home"/>, else a sentence saying why not.</summary>
    public static string? Check(string home)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(home));
        MountInfo? backing = MountInfo.Containing(full);
        string fileSystem = backing?.FilesystemType ?? "unknown";
        if (fileSystem == "overlay")
            return $"'{full}' is on an overlay file system (mounted at {backing!.MountPoint}), and overlayfs cannot use a directory of another overlay mount as a layer's upper directory (overlay on overlay, as inside a container). Put the store on a real file system (ext4, xfs, btrfs, tmpfs), for example a volume.";

        List<string> created = CreateMissing(full);
        string? reason = null;
        bool supported = false;
        try
        {
            string probe = Path.Combine(full, ".probe-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant());
            Fs.Mkdir(probe, PrivateDirectory);
            try
            {
                reason = Probe(probe, fileSystem);
            }
            finally
            {
                string merged = Path.Combine(probe, "merged");
                if (Mounts.IsMountPoint(merged)) Mounts.Unmount(merged, lazy: true);
                TreeRemoval.Remove(probe);
            }
            supported = reason is null;
        }
        finally
        {
            // A store that cannot run overlay must not be left with directories the check made.
            if (!supported)
                foreach (string directory in Enumerable.Reverse(created))
                    if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any()) Fs.Rmdir(directory);
        }
        return reason;
    }

    private static string? Probe(string probe, string fileSystem)
    {
        string P(string relative) => Path.Combine(probe, relative);
        string home = Path.GetDirectoryName(probe)!;
        foreach (string directory in new[] { "lower", "lower/dir", "upper", "work", "merged" })
            Fs.Mkdir(P(directory), PrivateDirectory);
        File.WriteAllText(P("lower/file"), "");
        File.WriteAllText(P("lower/dir/file"), "");

        if (!DirectoryEntryTypes.AreReported(probe))
            return $"The {fileSystem} file system under '{home}' does not report file types in directory entries (d_type), which overlayfs needs to find whiteouts; on xfs, make the file system with 'mkfs.xfs -n ftype=1'.";

        try
        {
            new OverlayMount([P("lower")], P("upper"), P("work")).MountAt(P("merged"), readOnly: false);
        }
        catch (NativeException e)
        {
            return KernelHasOverlay()
                ? $"A test overlay mount on the {fileSystem} file system under '{home}' failed: {e.Message}."
                : $"The kernel has no overlay file system: it is not listed in /proc/filesystems and a test mount failed ({e.Message}); load it with 'modprobe overlay'.";
        }

        try
        {
            Fs.Unlink(P("merged/file"));
            Fs.Unlink(P("merged/dir/file"));
            Fs.Rmdir(P("merged/dir"));
            Fs.Mkdir(P("merged/dir"), PrivateDirectory);
            if (Fs.TryLstat(P("merged/file"), out _) || Fs.TryLstat(P("merged/dir/file"), out _))
                return $"Overlay mounts on the {fileSystem} file system under '{home}' show deleted files again: whiteouts or opaque directories do not work there.";
        }
        catch (NativeException e)
        {
            return $"Overlay mounts on the {fileSystem} file system under '{home}' cannot record a deletion (a whiteout or an opaque directory): {e.Message}.";
        }
        return null;
    }

    private static bool KernelHasOverlay() =>
        File.ReadLines("/proc/filesystems").Any(line => line.Split('\t').LastOrDefault() == "overlay");

    /// <summary>Makes <paramref name="directory"/> and its missing parents, private like a store root; returns those it made, outermost first.</summary>
    private static List<string> CreateMissing(string directory)
    {
        var missing = new List<string>();
        for (string? d = directory; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
            missing.Insert(0, d);
        var made = new List<string>();
        foreach (string d in missing)
        {
            try
            {
                Fs.Mkdir(d, PrivateDirectory);
                made.Add(d);
            }
            catch (NativeException e) when (e.Errno == Errno.EEXIST)
            {
                // Another process initializing the same store made it first; it is not ours to remove.
            }
        }
        return made;
    }
}
