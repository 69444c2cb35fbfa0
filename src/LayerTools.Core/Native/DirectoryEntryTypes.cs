using System.Runtime.InteropServices;

namespace LayerTools.Native;

/// <summary>
/// Whether a file system fills in the type of each directory entry (d_type). Overlayfs relies on it to
/// find whiteouts; without it (xfs made with ftype=0) merged views go wrong in ways it does not report.
/// </summary>
public static unsafe class DirectoryEntryTypes
{
    private const byte TypeUnknown = 0;

    /// <summary>True if every entry of <paramref name="directory"/> comes back from getdents64 with a known type.</summary>
    public static bool AreReported(string directory)
    {
        nint call = DirectoryHandle.Getdents64Call
            ?? throw new PlatformNotSupportedException($"getdents64 has no known syscall number on {RuntimeInformation.ProcessArchitecture}");
        int fd = Fs.Open(directory, Tmds.Linux.LibC.O_RDONLY | Tmds.Linux.LibC.O_DIRECTORY);
        try
        {
            byte[] buffer = new byte[32 * 1024];
            fixed (byte* b = buffer)
            {
                while (true)
                {
                    nint n = syscall(call, fd, (nint)b, buffer.Length);
                    if (n < 0) throw new NativeException("getdents64", directory, Marshal.GetLastPInvokeError());
                    if (n == 0) return true;
                    // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
                    for (nint offset = 0; offset < n;)
                    {
                        ushort length = *(ushort*)(b + offset + 16);
                        if (b[offset + 18] == TypeUnknown) return false;
                        offset += length;
                    }
                }
            }
        }
        finally
        {
            Fs.Close(fd);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint syscall(nint number, nint fd, nint buffer, nint count);
}
