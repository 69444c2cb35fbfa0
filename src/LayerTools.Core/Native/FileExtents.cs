using static Tmds.Linux.LibC;

namespace LayerTools.Native;

/// <summary>
/// Where an open regular file holds data, found with lseek's SEEK_DATA and SEEK_HOLE: what a copy or an
/// archive has to carry, everything between the extents being holes that read as zeros.
/// </summary>
public static class FileExtents
{
    private const int SeekData = 3;
    private const int SeekHole = 4;

    /// <summary>
    /// The data extents of <paramref name="fd"/> below <paramref name="size"/>, ascending, each running up to
    /// the next hole (so never two adjacent). A file system that does not track holes reports the whole file
    /// as one extent. <paramref name="path"/> only names the file in errors.
    /// </summary>
    public static IEnumerable<(long Offset, long Length)> Data(int fd, long size, string path)
    {
        long offset = 0;
        while (offset < size)
        {
            long data = lseek(fd, offset, SeekData);
            if (data < 0)
            {
                int error = errno;
                if (error == Errno.ENXIO) yield break; // only a hole remains
                throw new NativeException("lseek", path, error);
            }
            // The file may have grown since its size was taken; what lies past that size is not wanted.
            if (data >= size) yield break;
            long hole = lseek(fd, data, SeekHole);
            if (hole < 0) throw new NativeException("lseek", path, errno);
            long end = Math.Min(hole, size);
            yield return (data, end - data);
            offset = end;
        }
    }
}
