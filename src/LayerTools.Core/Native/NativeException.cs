using Codes = LayerTools.Native.Errno;

namespace LayerTools.Native;

/// <summary>A failed system call: which call, on which path, and the errno the kernel returned.</summary>
public sealed class NativeException : IOException
{
    public NativeException(string call, string? path, int errno)
        : base(Describe(call, path, errno), errno)
    {
        Call = call;
        Path = path;
        Errno = errno;
    }

    public string Call { get; }
    public string? Path { get; }
    public int Errno { get; }

    public bool IsPermissionDenied => Errno is Codes.EPERM or Codes.EACCES;
    public bool IsNotFound => Errno == Codes.ENOENT;

    private static string Describe(string call, string? path, int errno)
    {
        string text = Codes.Describe(errno);
        return path is null ? $"{call} failed: {text}" : $"{call} '{path}' failed: {text}";
    }
}
