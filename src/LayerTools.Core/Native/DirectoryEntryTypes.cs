namespace LayerTools.Native;

/// <summary>
/// Whether a file system fills in the type of each directory entry (d_type). Overlayfs relies on it to
/// find whiteouts; without it (xfs made with ftype=0) merged views go wrong in ways it does not report.
/// </summary>
public static class DirectoryEntryTypes
{
    private const byte TypeUnknown = 0;

    /// <summary>True if every entry of <paramref name="directory"/> comes back from getdents64 with a known type.</summary>
    public static bool AreReported(string directory)
    {
        int fd = Fs.Open(directory, Tmds.Linux.LibC.O_RDONLY | Tmds.Linux.LibC.O_DIRECTORY);
        try
        {
            bool reported = true;
            DirectoryHandle.VisitEntries(fd, directory, (_, type) => reported = type != TypeUnknown);
            return reported;
        }
        finally
        {
            Fs.Close(fd);
        }
    }
}
