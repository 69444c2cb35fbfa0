using System.Runtime.InteropServices;

namespace LayerTools.Native;

/// <summary>
/// Mounting a file system with options: classic mount(2) with an option string, and the new mount API
/// (fsopen, fsconfig, fsmount, move_mount), which takes one option per call and so has no page limit
/// on the whole. Each call is checked and turns errno into a <see cref="NativeException"/>.
/// </summary>
public static unsafe class MountApi
{
    /// <summary>mount(2) copies at most one page of option data; 4096 is the smallest page Linux runs on.</summary>
    public const int OptionPageSize = 4096;

    /// <summary>fsconfig copies a string value of at most 256 bytes, its terminating NUL included.</summary>
    public const int MaxSettingValueBytes = 255;

    // The syscall numbers of the new mount API are the same on x86_64 and arm64 (the unified table).
    private const nint SysMoveMount = 429;
    private const nint SysFsopen = 430;
    private const nint SysFsconfig = 431;
    private const nint SysFsmount = 432;

    private const nint FsopenCloexec = 0x1;
    private const nint FsconfigSetString = 1;
    private const nint FsconfigCmdCreate = 6;
    private const nint FsmountCloexec = 0x1;
    private const nint MountAttrReadOnly = 0x1;
    private const nint MoveMountFromEmptyPath = 0x4;
    private const nint AtFdCwd = -100;

    private const nuint MsReadOnly = 0x1;
    private const nuint MsPrivate = 1 << 18;

    /// <summary>mount(2) of a file system of <paramref name="type"/> with an option string that fits <see cref="OptionPageSize"/>.</summary>
    public static void Mount(string type, string source, string target, string options, bool readOnly)
    {
        byte[] data = Fs.Utf8(options);
        if (Array.IndexOf(data, (byte)0) + 1 > OptionPageSize)
            throw new ArgumentException($"the mount options for '{target}' are longer than one page ({OptionPageSize} bytes); use the new mount API", nameof(options));
        fixed (byte* s = Fs.Utf8(source))
        fixed (byte* t = Fs.Utf8(target))
        fixed (byte* ty = Fs.Utf8(type))
        fixed (byte* d = data)
        {
            if (mount(s, t, ty, readOnly ? MsReadOnly : 0, d) != 0)
                throw new NativeException("mount", target, Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Mounts a file system of <paramref name="type"/> at <paramref name="target"/> through the new mount
    /// API, giving it each (key, value) string setting in order; keys may repeat (overlayfs' "lowerdir+").
    /// </summary>
    public static void MountWithSettings(string type, string source, IEnumerable<KeyValuePair<string, string>> settings, string target, bool readOnly)
    {
        int context = Fsopen(type);
        try
        {
            SetString(context, type, "source", source);
            foreach (var (key, value) in settings) SetString(context, type, key, value);
            Check(Syscall(SysFsconfig, context, FsconfigCmdCreate, 0, 0, 0), "fsconfig create", target);
            int mountFd = Check(Syscall(SysFsmount, context, FsmountCloexec, readOnly ? MountAttrReadOnly : 0, 0, 0), "fsmount", target);
            try
            {
                fixed (byte* empty = Fs.Utf8(""))
                fixed (byte* t = Fs.Utf8(target))
                    Check(Syscall(SysMoveMount, mountFd, (nint)empty, AtFdCwd, (nint)t, MoveMountFromEmptyPath), "move_mount", target);
            }
            finally
            {
                Fs.Close(mountFd);
            }
        }
        finally
        {
            Fs.Close(context);
        }
    }

    /// <summary>
    /// True if the kernel has the new mount API for <paramref name="type"/> and accepts
    /// <paramref name="key"/>=<paramref name="value"/> as a setting (nothing is mounted).
    /// </summary>
    public static bool AcceptsSetting(string type, string key, string value)
    {
        int context;
        fixed (byte* t = Fs.Utf8(type))
            context = (int)Syscall(SysFsopen, (nint)t, FsopenCloexec, 0, 0, 0);
        if (context < 0) return false;
        try
        {
            fixed (byte* k = Fs.Utf8(key))
            fixed (byte* v = Fs.Utf8(value))
                return Syscall(SysFsconfig, context, FsconfigSetString, (nint)k, (nint)v, 0) == 0;
        }
        finally
        {
            Fs.Close(context);
        }
    }

    /// <summary>Makes the mount at <paramref name="target"/> private: mounts under it do not propagate to or from its peers.</summary>
    public static void MakePrivate(string target)
    {
        fixed (byte* t = Fs.Utf8(target))
        {
            if (mount(null, t, null, MsPrivate, null) != 0)
                throw new NativeException("mount (make private)", target, Marshal.GetLastPInvokeError());
        }
    }

    private static int Fsopen(string type)
    {
        fixed (byte* t = Fs.Utf8(type))
            return Check(Syscall(SysFsopen, (nint)t, FsopenCloexec, 0, 0, 0), "fsopen", type);
    }

    private static void SetString(int context, string type, string key, string value)
    {
        fixed (byte* k = Fs.Utf8(key))
        fixed (byte* v = Fs.Utf8(value))
            Check(Syscall(SysFsconfig, context, FsconfigSetString, (nint)k, (nint)v, 0), "fsconfig", $"{type} {key}={value}");
    }

    private static int Check(nint rc, string call, string? path) =>
        rc < 0 ? throw new NativeException(call, path, Marshal.GetLastPInvokeError()) : (int)rc;

    private static nint Syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5) => syscall(number, a1, a2, a3, a4, a5);

    // long syscall(long number, ...): C's long is pointer-sized on Linux, so nint on 32 and 64 bits alike.
    [DllImport("libc", SetLastError = true)]
    private static extern nint syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5);

    [DllImport("libc", SetLastError = true)]
    private static extern int mount(byte* source, byte* target, byte* type, nuint flags, byte* data);
}
