using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>Kernel mounts: bind, read-only remount, private propagation, unmount.</summary>
public static unsafe class Mounts
{
    /// <summary>Bind-mounts <paramref name="source"/> on <paramref name="target"/>, read-only if asked, with private propagation.</summary>
    public static void Bind(string source, string target, bool readOnly)
    {
        Mount(source, target, null, MS_BIND);
        try
        {
            // MS_RDONLY is ignored on the first bind; it takes a remount of the bind to apply it.
            if (readOnly) Mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY);
            Mount(null, target, null, MS_PRIVATE);
        }
        catch
        {
            Unmount(target, lazy: true);
            throw;
        }
    }

    public static void Unmount(string target, bool lazy)
    {
        fixed (byte* t = Fs.Utf8(target))
            Fs.Check(umount2(t, lazy ? MNT_DETACH : 0), "umount", target);
    }

    /// <summary>True if something is mounted exactly at this path.</summary>
    public static bool IsMountPoint(string path) => Fs.TryLstat(path, out FileStatus s) && s.IsMountRoot;

    private static void Mount(string? source, string target, string? type, ulong_t flags)
    {
        byte[]? s = source is null ? null : Fs.Utf8(source);
        byte[]? t = type is null ? null : Fs.Utf8(type);
        fixed (byte* sp = s)
        fixed (byte* tp = Fs.Utf8(target))
        fixed (byte* typ = t)
            Fs.Check(mount(sp, tp, typ, flags, null), "mount", target);
    }
}
