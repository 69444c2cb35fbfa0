using LayerTools.Native;
using Microsoft.Win32.SafeHandles;

namespace LayerTools.Archive;

/// <summary>
/// Gives back the exact tarball a layer was made from: the tar-split record's headers and padding
/// verbatim, each payload read from the layer's file, and a check that the result has the original's
/// length and SHA-256.
/// </summary>
/// <remarks>
/// <para>Files are read without following symlinks: the file itself is opened with O_NOFOLLOW and every
/// directory on its path must be a real directory, so a symlink planted in the layer can never make the
/// export read outside it. The check of the directories and the open are separate calls, so this relies
/// on nothing renaming the layer's directories during the export.</para>
/// <para>A layer whose files changed surfaces as <see cref="TarSplitMismatchException"/>: as soon as a file
/// is missing, not regular or of another size, and only at the end for content rewritten at the same
/// size, when the digest differs. <see cref="Replay"/> may have written most of the tar by then, so a
/// caller that cannot take output back (a pipe) calls <see cref="Verify"/> first, at the cost of reading
/// the layer's data twice, or replays into a temporary file. A damaged record is an
/// <see cref="InvalidDataException"/>, never taken for a change of the layer.</para>
/// </remarks>
public static class TarSplitReplayer
{
    private const int CopyBufferSize = 256 * 1024;

    /// <summary>Writes the original tar to <paramref name="output"/>, reading file data from <paramref name="layerRoot"/>.</summary>
    /// <param name="sidecar">The record <see cref="TarSplitRecorder"/> wrote; read forward only and left open.</param>
    /// <param name="output">Where the tar goes. A <see cref="DigestStream"/> nothing has passed through yet serves as the check's own digest, so the bytes are hashed once.</param>
    /// <exception cref="TarSplitMismatchException">The layer's files do not give back the original tar; what was written is not it.</exception>
    /// <exception cref="InvalidDataException">The record is damaged, cut short or of another format version.</exception>
    public static void Replay(Stream sidecar, string layerRoot, Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("The tar output must be writable.", nameof(output));
        if (output is DigestStream { Length: 0 } fresh)
        {
            Run(sidecar, layerRoot, fresh);
            return;
        }
        using var digest = new DigestStream(output, leaveOpen: true);
        Run(sidecar, layerRoot, digest);
    }

    /// <summary>
    /// Replays without output: true if the layer's files still give back the original tar exactly. Reads
    /// all of the layer's file data once.
    /// </summary>
    /// <exception cref="InvalidDataException">The record is damaged, cut short or of another format version.</exception>
    public static bool Verify(Stream sidecar, string layerRoot)
    {
        using var digest = new DigestStream(Stream.Null);
        try
        {
            Run(sidecar, layerRoot, digest);
            return true;
        }
        catch (TarSplitMismatchException)
        {
            return false;
        }
    }

    private static void Run(Stream sidecar, string layerRoot, DigestStream output)
    {
        ArgumentNullException.ThrowIfNull(sidecar);
        ArgumentException.ThrowIfNullOrEmpty(layerRoot);
        if (!sidecar.CanRead) throw new ArgumentException("The tar-split record must be readable.", nameof(sidecar));
        byte[] buffer = new byte[CopyBufferSize];
        using var records = new TarSplitReader(sidecar);
        var layer = new LayerFiles(layerRoot);
        try
        {
            while (true)
            {
                switch (records.NextTag())
                {
                    case TarSplitFormat.Raw:
                        records.CopyTo(output, records.ReadNumber("length of a run of tar headers"), buffer);
                        break;
                    case TarSplitFormat.Payload:
                        CopyPayload(records, layer, output, buffer);
                        break;
                    case TarSplitFormat.End:
                        CheckTrailer(records, output);
                        return;
                    case null:
                        throw TarSplitFormat.Corrupt("it ends without its trailer: the import that wrote it did not finish");
                    case { } tag:
                        throw TarSplitFormat.Corrupt($"it holds a record of unknown type 0x{tag:x2}");
                }
            }
        }
        catch (TarSplitMismatchException)
        {
            // A damaged record can decode into paths and sizes the layer never had; the frame's checksum,
            // checked at its end, tells such damage from a changed layer.
            records.Drain(buffer);
            throw;
        }
    }

    private static void CopyPayload(TarSplitReader records, LayerFiles layer, Stream output, byte[] buffer)
    {
        string path = records.ReadPath();
        long size = records.ReadNumber("file size");
        long stored = records.ReadNumber("stored size");
        long count = records.ReadNumber("segment count");
        IReadOnlyList<(long Offset, long Length)> segments;
        if (count == 0)
        {
            if (stored != size) throw TarSplitFormat.Corrupt($"'{path}' is stored whole, yet its stored size {stored} is not its size {size}");
            segments = [(0, size)];
        }
        else
        {
            var map = new SparseMapBuilder();
            long end = 0;
            for (long i = 0; i < count; i++)
            {
                long gap = records.ReadNumber("sparse segment offset");
                long length = records.ReadNumber("sparse segment length");
                if (gap > long.MaxValue - end || map.Add(end + gap, length) is not null)
                    throw TarSplitFormat.Corrupt($"the sparse map of '{path}' is out of range at segment {i}");
                end += gap + length;
            }
            if (map.Validate(size, stored) is { } problem) throw TarSplitFormat.Corrupt($"the sparse map of '{path}' does not hold: {problem}");
            segments = map.ToList();
        }

        using SafeFileHandle file = layer.Open(path, size);
        foreach (var (offset, length) in segments)
        {
            long position = offset, remaining = length;
            while (remaining > 0)
            {
                int read = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, remaining)), position);
                if (read == 0) throw LayerFiles.Mismatch(path, "shrank while it was being read");
                output.Write(buffer, 0, read);
                position += read;
                remaining -= read;
            }
        }
    }

    private static void CheckTrailer(TarSplitReader records, DigestStream output)
    {
        long size = records.ReadNumber("tar length");
        byte[] digest = new byte[TarSplitFormat.DigestLength];
        records.ReadExactly(digest, "tar digest");
        if (records.NextTag() is not null) throw TarSplitFormat.Corrupt("records follow its trailer");

        string expected = TarSplitFormat.DigestPrefix + Convert.ToHexString(digest).ToLowerInvariant();
        // Sizes were checked file by file, so a different length means the record contradicts itself.
        if (output.Length != size)
            throw TarSplitFormat.Corrupt($"its records make {output.Length} bytes of tar, but its trailer says {size}");
        if (output.Digest != expected)
            throw new TarSplitMismatchException(
                $"The replayed tar has digest {output.Digest} instead of {expected}: the content of a file in the layer was changed without changing its size. Export a fresh diff instead.");
    }

    /// <summary>Opens the layer's files for reading, refusing anything but a regular file reached through real directories.</summary>
    private sealed class LayerFiles(string root)
    {
        /// <summary>The directory whose path was last checked; archives list a directory's files together, so most checks stop here.</summary>
        private string? _checkedDirectory;

        public SafeFileHandle Open(string path, long size)
        {
            CheckDirectories(path);
            string fullPath = Path.Join(root, path);
            if (!Fs.TryLstat(fullPath, out FileStatus status)) throw Mismatch(path, "is missing");
            if (status.Kind != FileKind.Regular) throw Mismatch(path, $"is a {Describe(status.Kind)}, no longer a regular file");
            if (status.Size != size) throw Mismatch(path, $"is {status.Size} bytes long instead of {size}");
            return new SafeFileHandle(Fs.OpenForReading(fullPath), ownsHandle: true);
        }

        public static TarSplitMismatchException Mismatch(string path, string problem) =>
            new($"The layer's file '{path}' {problem}, so the layer no longer matches the tarball it was made from. Export a fresh diff instead.", path);

        private void CheckDirectories(string path)
        {
            for (int slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
            {
                string directory = path[..slash];
                if (_checkedDirectory is not null
                    && (_checkedDirectory == directory || _checkedDirectory.StartsWith(directory + "/", StringComparison.Ordinal)))
                    continue;
                if (!Fs.TryLstat(Path.Join(root, directory), out FileStatus status))
                    throw Mismatch(path, $"is missing (its directory '{directory}' is gone)");
                if (status.Kind != FileKind.Directory)
                    throw Mismatch(path, $"is not reachable: '{directory}' is a {Describe(status.Kind)}, no longer a directory");
                _checkedDirectory = directory;
            }
        }

        private static string Describe(FileKind kind) => kind switch
        {
            FileKind.Regular => "regular file",
            FileKind.CharDevice => "character device",
            FileKind.BlockDevice => "block device",
            _ => kind.ToString().ToLowerInvariant(),
        };
    }
}
