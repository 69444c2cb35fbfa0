using System.Runtime.InteropServices;
using System.Text;

namespace LayerTools.Native;

/// <summary>Extended attributes of a path itself (the l* calls: a symlink's own attributes, never its target's).</summary>
public static unsafe class Xattrs
{
    /// <summary>All attribute names with their raw values, in the order the kernel lists them.</summary>
    public static IReadOnlyList<KeyValuePair<string, byte[]>> Read(string path)
    {
        var result = new List<KeyValuePair<string, byte[]>>();
        foreach (string name in List(path))
        {
            byte[]? value = Get(path, name);
            if (value is not null) result.Add(new(name, value));
        }
        return result;
    }

    public static IReadOnlyList<string> List(string path)
    {
        byte[] p = Fs.Utf8(path);
        fixed (byte* pp = p)
        {
            while (true)
            {
                long size = llistxattr(pp, null, 0);
                if (size < 0) return NoneIfUnsupported(Marshal.GetLastPInvokeError(), "llistxattr", path);
                if (size == 0) return Array.Empty<string>();
                byte[] names = new byte[size];
                fixed (byte* n = names)
                {
                    long got = llistxattr(pp, n, (nuint)names.Length);
                    if (got < 0)
                    {
                        int error = Marshal.GetLastPInvokeError();
                        if (error == Errno.ERANGE) continue; // grew between the two calls
                        return NoneIfUnsupported(error, "llistxattr", path);
                    }
                    return Encoding.UTF8.GetString(names, 0, (int)got)
                        .Split('\0', StringSplitOptions.RemoveEmptyEntries);
                }
            }
        }
    }

    /// <summary>The raw value of one attribute, or null when the path does not have it.</summary>
    public static byte[]? Get(string path, string name)
    {
        fixed (byte* pp = Fs.Utf8(path))
        fixed (byte* np = Fs.Utf8(name))
        {
            while (true)
            {
                long size = lgetxattr(pp, np, null, 0);
                if (size < 0)
                {
                    int error = Marshal.GetLastPInvokeError();
                    if (error == Errno.ENODATA) return null;
                    throw new NativeException("lgetxattr", $"{path} [{name}]", error);
                }
                byte[] value = new byte[size];
                fixed (byte* v = value)
                {
                    long got = lgetxattr(pp, np, v, (nuint)value.Length);
                    if (got >= 0) return got == value.Length ? value : value[..(int)got];
                    int error = Marshal.GetLastPInvokeError();
                    if (error != Errno.ERANGE) throw new NativeException("lgetxattr", $"{path} [{name}]", error);
                }
            }
        }
    }

    public static void Set(string path, string name, byte[] value)
    {
        fixed (byte* pp = Fs.Utf8(path))
        fixed (byte* np = Fs.Utf8(name))
        fixed (byte* v = value)
        {
            if (lsetxattr(pp, np, v, (nuint)value.Length, 0) < 0)
                throw new NativeException("lsetxattr", $"{path} [{name}]", Marshal.GetLastPInvokeError());
        }
    }

    public static void Remove(string path, string name)
    {
        fixed (byte* pp = Fs.Utf8(path))
        fixed (byte* np = Fs.Utf8(name))
        {
            if (lremovexattr(pp, np) < 0)
                throw new NativeException("lremovexattr", $"{path} [{name}]", Marshal.GetLastPInvokeError());
        }
    }

    private static IReadOnlyList<string> NoneIfUnsupported(int error, string call, string path) =>
        error == Errno.EOPNOTSUPP ? Array.Empty<string>() : throw new NativeException(call, path, error);

    [DllImport("libc", SetLastError = true)]
    private static extern long llistxattr(byte* path, byte* list, nuint size);

    [DllImport("libc", SetLastError = true)]
    private static extern long lgetxattr(byte* path, byte* name, byte* value, nuint size);

    [DllImport("libc", SetLastError = true)]
    private static extern int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int lremovexattr(byte* path, byte* name);
}
