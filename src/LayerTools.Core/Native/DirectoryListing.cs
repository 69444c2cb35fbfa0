using System.IO.Enumeration;

namespace LayerTools.Native;

/// <summary>The names in one directory, every one of them: .NET's default enumeration options skip dot files.</summary>
public static class DirectoryListing
{
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
}
