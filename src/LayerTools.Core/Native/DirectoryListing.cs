using System.IO.Enumeration;
using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>The names in one directory, every one of them: .NET's default enumeration options skip dot files.</summary>
public static unsafe class DirectoryListing
{
    // dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), then the name; the same on every architecture.
    private const int DirentNameOffset = 19;

    private static readonly EnumerationOptions AllEntries = new()
    {
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
        ReturnSpecialDirectories = false,
    };

    public static string[] Names(string directory)
    {
        try
        {
            return new FileSystemEnumerable<string>(directory, (ref FileSystemEntry entry) => entry.FileName.ToString(), AllEntries).ToArray();
        }
        // .NET reports an unreadable directory in its own exception types, without the errno; keep the
        // promise that every native failure names its call and path.
        catch (UnauthorizedAccessException)
        {
            throw new NativeException("opendir", directory, Errno.EACCES);
        }
        catch (DirectoryNotFoundException)
        {
            throw new NativeException("opendir", directory, Errno.ENOENT);
        }
    }

    /// <summary>
    /// The raw, NUL-terminated names in the directory open as <paramref name="directoryFd"/> (an O_PATH
    /// descriptor will do), "." and ".." left out; read in full, so the caller may remove them afterwards.
    /// </summary>
    internal static List<byte[]> RawNames(int directoryFd, string pathForErrors)
    {
        int fd;
        fixed (byte* dot = ".\0"u8)
            fd = openat(directoryFd, dot, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) throw new NativeException("openat", pathForErrors, errno);
        nint stream = fdopendir(fd);
        if (stream == 0)
        {
            int error = Marshal.GetLastPInvokeError();
            close(fd);
            throw new NativeException("fdopendir", pathForErrors, error);
        }
        var names = new List<byte[]>();
        try
        {
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                byte* entry = readdir64(stream);
                if (entry == null)
                {
                    int error = Marshal.GetLastPInvokeError();
                    if (error != 0) throw new NativeException("readdir", pathForErrors, error);
                    return names;
                }
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + DirentNameOffset);
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) continue;
                byte[] terminated = new byte[name.Length + 1];
                name.CopyTo(terminated);
                names.Add(terminated);
            }
        }
        finally
        {
            closedir(stream);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint fdopendir(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern byte* readdir64(nint stream);

    [DllImport("libc", SetLastError = true)]
    private static extern int closedir(nint stream);
}
