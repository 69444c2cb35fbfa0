using LayerTools.Archive;
using LayerTools.Changes;
using LayerTools.Drivers;
using LayerTools.Native;

namespace LayerTools.Store;

/// <summary>Layer tarballs in and out, and the changes between layers.</summary>
public sealed partial class StoreEngine
{
    private const string ExactDirectory = "exact";

    /// <summary>Applies the layer tarball in <paramref name="file"/> to a writable layer.</summary>
    public LayerDiff ImportDiff(string nameOrId, string file)
    {
        using FileStream input = OpenTarball(file);
        return ImportDiff(nameOrId, input, input.Name);
    }

    /// <summary>Creates a layer from the layer tarball in <paramref name="file"/>.</summary>
    public Layer Create(LayerSpec spec, string file)
    {
        using FileStream input = OpenTarball(file);
        return Create(spec, input);
    }

    /// <summary>
    /// Writes a layer's diff to <paramref name="file"/>: into a temporary file beside it, renamed into
    /// place when complete, so the path never holds half a tarball. Like tar and cp, the file is left
    /// to the page cache rather than forced to disk: it can always be exported again.
    /// </summary>
    public LayerDiff ExportDiff(string nameOrId, string? fromNameOrId, string file, CompressionKind compression, bool overwrite)
    {
        string target = Path.GetFullPath(file);
        if (!overwrite && File.Exists(target))
            throw new LayerToolsException(LayerError.OutputExists,
                $"'{target}' exists already; remove it, choose another path, or leave out -NoClobber.", target);
        if (!Directory.Exists(Path.GetDirectoryName(target)))
            throw new LayerToolsException(LayerError.OutputDirectoryNotFound,
                $"The directory of '{target}' does not exist; create it first.", target);
        string temporary = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.part");
        try
        {
            LayerDiff diff;
            using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                try
                {
                    // A file can be written again, so the original tarball is replayed without reading the layer twice to check it first.
                    diff = ExportDiff(nameOrId, fromNameOrId, output, compression, target, checkExactFirst: false);
                }
                catch (Exception e) when (e is TarSplitMismatchException or InvalidDataException)
                {
                    // The layer changed since its import, or the record of its tarball is damaged: start over, checking first.
                    output.SetLength(0);
                    diff = ExportDiff(nameOrId, fromNameOrId, output, compression, target, checkExactFirst: true);
                }
                output.Flush();
            }
            File.Move(temporary, target, overwrite: true);
            return diff;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Applies a layer tarball (none, gzip, zstd or bzip2) to a writable layer.</summary>
    public LayerDiff ImportDiff(string nameOrId, Stream input, string? path) => Write(session =>
    {
        LayerRecord record = Resolve(session.Layers, nameOrId);
        if (record.ReadOnly)
            throw new LayerToolsException(LayerError.LayerReadOnly,
                $"Layer '{Display(record)}' is read-only; import into a writable layer (New-Layer -Parent '{Display(record)}').", record.Id);
        if (session.Mounts.Live(record.Id) is { ReadOnly: true } mount)
            throw new LayerToolsException(LayerError.LayerMounted,
                $"Layer '{Display(record)}' is mounted read-only at {mount.Path}; dismount it before importing into it.", record.Id);
        if (MountedDescendant(session, record) is { } user)
            throw new LayerToolsException(LayerError.LayerMounted,
                $"Layer '{Display(record)}' lies under layer '{Display(user)}', which is mounted at {session.Mounts.Live(user.Id)!.Path}; a mounted overlay must not have its lower layers changed. Dismount it before importing.", record.Id);
        // Marked before the first byte lands, so a crash mid-import leaves a layer the store reports as
        // damaged. A success puts back what was there: a layer damaged earlier stays damaged.
        string? earlierProblem = record.Problem;
        record.Problem = earlierProblem ?? "an import into this layer was interrupted; its content is partly applied";
        session.SaveLayers();
        try
        {
            LayerDiff diff = ApplyDiff(session, record, input, path);
            record.Problem = earlierProblem;
            session.SaveLayers();
            return diff;
        }
        catch (Exception e)
        {
            record.Problem = earlierProblem ?? $"an import into this layer failed ({e.Message}); its content is partly applied";
            session.SaveLayers();
            throw;
        }
    });

    /// <summary>
    /// Writes the diff of a layer against <paramref name="fromNameOrId"/> (default: its parent) to
    /// <paramref name="output"/>. A layer made from a tarball and not changed since gives back that
    /// tarball's exact bytes; otherwise the diff is computed from the trees.
    /// </summary>
    public LayerDiff ExportDiff(string nameOrId, string? fromNameOrId, Stream output, CompressionKind compression, string? path) =>
        ExportDiff(nameOrId, fromNameOrId, output, compression, path, checkExactFirst: true);

    /// <param name="checkExactFirst">
    /// Whether the layer's files are checked against its original tarball before it is replayed. Without
    /// the check, a layer changed since its import ends the replay with <see cref="TarSplitMismatchException"/>
    /// partway through the output, which the caller must then discard.
    /// </param>
    private LayerDiff ExportDiff(string nameOrId, string? fromNameOrId, Stream output, CompressionKind compression, string? path, bool checkExactFirst) => Write(session =>
    {
        LayerRecord record = Resolve(session.Layers, nameOrId);
        LayerRecord? from = fromNameOrId is null ? ParentOf(session, record) : Resolve(session.Layers, fromNameOrId);
        // Both digests in one pass: one counter on each side of the compressor. Disposing the chain
        // flushes the compressor's trailer into the output but leaves the output itself open.
        var written = new DigestStream(output, leaveOpen: true);
        // Uncompressed, the blob is the tar itself, so one digest serves both.
        DigestStream tar = compression == CompressionKind.None ? written : new DigestStream(Compression.OpenWrite(written, compression));
        long entries = 0;
        bool exact;
        using (tar)
        {
            // The original tarball reads only the files the layer wrote itself, which need no mount.
            exact = from?.Id == record.Parent && TryReplayExact(record, Driver.OwnFilesDirectory(record.Id), tar, checkExactFirst);
            if (exact)
                entries = record.Entries ?? 0;
            else if (NativeChangesFromParent(record, from) is { } changes)
                entries = WithTree(session, record, writable: false, tree => WriteChanges(tree, changes, tar));
            else
                entries = WithTree(session, record, writable: false, tree =>
                    WithTreeOrEmpty(session, from, writable: false, lower => WriteChanges(tree, TreeComparer.Enumerate(lower, tree), tar)));
        }
        output.Flush();
        return DiffOf(record, path, compression, written, tar, entries, exact);
    });

    /// <summary>The changes of a layer against <paramref name="fromNameOrId"/> (default: its parent), in path order.</summary>
    public IReadOnlyList<LayerChange> Changes(string nameOrId, string? fromNameOrId) => Write(session =>
    {
        LayerRecord record = Resolve(session.Layers, nameOrId);
        LayerRecord? from = fromNameOrId is null ? ParentOf(session, record) : Resolve(session.Layers, fromNameOrId);
        if (NativeChangesFromParent(record, from) is { } changes) return changes.ToList();
        return WithTree(session, record, writable: false, tree =>
            WithTreeOrEmpty(session, from, writable: false, lower => TreeComparer.Compare(lower, tree)));
    });

    /// <summary>
    /// The driver's own list of the layer's changes when it has one and they are wanted against the
    /// parent (the only comparison a driver keeps): it costs what the change costs, not a walk of both trees.
    /// </summary>
    private IEnumerable<LayerChange>? NativeChangesFromParent(LayerRecord record, LayerRecord? from) =>
        Driver is INativeChanges native && from?.Id == record.Parent ? native.ChangesFromParent(record.Id) : null;

    /// <summary>Applies a tarball into a layer's tree and records what it was; the caller owns failure handling.</summary>
    private LayerDiff ApplyDiff(Session session, LayerRecord record, Stream input, string? path)
    {
        bool exact = record.Untouched;
        MarkTouched(session, record);
        long? total = input.CanSeek ? input.Length - input.Position : null;
        // Reading, decompressing and hashing a file run beside the work on the tree, on a read-ahead thread;
        // the file's own bytes are hashed from a second reading of it where a lease allows. Not a pipe's:
        // disposing the read-ahead waits for its read in progress, which on a pipe might never end; there
        // the digests hash beside instead.
        bool readAhead = input.CanSeek;
        using DigestStream compressed = readAhead && input is FileStream file
            ? DigestStream.OverFile(file, leaveOpen: true)
            : new DigestStream(input, leaveOpen: true, hashBeside: !readAhead);
        using Stream decompressed = Compression.OpenRead(compressed, out CompressionKind kind, leaveOpen: true);
        // Uncompressed, the blob is the tar itself, so one digest serves both.
        using DigestStream? tarDigest = kind == CompressionKind.None ? null : new DigestStream(decompressed, leaveOpen: true, hashBeside: !readAhead);
        DigestStream tarBytes = tarDigest ?? compressed;
        Stream tarStream = (Stream?)tarDigest ?? decompressed;
        using ReadAheadStream? ahead = readAhead ? new ReadAheadStream(tarStream, leaveOpen: true) : null;
        Stream tarSource = (Stream?)ahead ?? tarStream;
        string exactFile = ExactRecordPath(record.Id);
        string exactPart = exactFile + ".part";
        TarSplitRecorder? recorder = exact ? new TarSplitRecorder(CreateExactFile(exactPart)) : null;
        try
        {
            using var reader = new TarReader(tarSource, recorder?.RawSink, leaveOpen: true);
            Action<WorkProgress>? progress = _options.Progress is null ? null
                : p => _options.Progress(p with { Done = compressed.Length, Total = total ?? 0 });
            Action<TarEntry, string>? applied = recorder is null ? null : recorder.Applied;
            ApplyResult result;
            // A driver that can writes an unmounted layer's files itself; a mounted layer takes the changeset through its mount.
            if (Driver is INativeApply native && session.Mounts.Live(record.Id) is null)
            {
                var (directory, union) = native.ApplyTarget(record.Id);
                result = ChangesetApplier.Apply(reader, directory, progress, applied, union);
            }
            else
            {
                result = WithTree(session, record, writable: true, tree => ChangesetApplier.Apply(reader, tree, progress, applied));
            }
            // Whatever follows the end of the archive counts for the digests as well.
            tarSource.CopyTo(Stream.Null);
            compressed.CopyTo(Stream.Null);
            if (recorder is not null)
            {
                recorder.Complete(tarBytes.Digest, tarBytes.Length);
                recorder.Dispose();
                recorder = null;
                File.Move(exactPart, exactFile, overwrite: true);
            }

            record.CompressedDigest = compressed.Digest;
            record.CompressedSize = compressed.Length;
            record.UncompressedDigest = tarBytes.Digest;
            record.UncompressedSize = tarBytes.Length;
            record.Compression = kind.ToString();
            record.Entries = result.Entries;
            record.Uids = result.Uids.Order().ToList();
            record.Gids = result.Gids.Order().ToList();
            _options.Verbose?.Invoke($"Applied {result.Entries} entries ({tarBytes.Length} bytes of tar, {kind}) to layer {record.Id}.");
            return DiffOf(record, path, kind, compressed, tarBytes, result.Entries, exact);
        }
        finally
        {
            recorder?.Dispose();
            if (File.Exists(exactPart)) File.Delete(exactPart);
        }
    }

    /// <summary>A diff described by the byte counters on either side of its compression.</summary>
    private static LayerDiff DiffOf(LayerRecord record, string? path, CompressionKind compression,
        DigestStream compressed, DigestStream tar, long entries, bool exact) => new()
    {
        LayerId = record.Id,
        Path = path,
        Compression = compression.ToString(),
        Size = compressed.Length,
        Digest = compressed.Digest,
        UncompressedSize = tar.Length,
        UncompressedDigest = tar.Digest,
        Entries = entries,
        Exact = exact,
    };

    private long WriteChanges(string tree, IEnumerable<LayerChange> changes, Stream tarOutput)
    {
        using var tar = new TarWriter(tarOutput, leaveOpen: true);
        long entries = ChangesetWriter.Write(tar, tree, changes, _options.Progress);
        tar.Finish();
        return entries;
    }

    /// <summary>Replays the tarball the layer was made from, if it still matches the layer's files.</summary>
    private bool TryReplayExact(LayerRecord record, string tree, Stream tarOutput, bool checkFirst)
    {
        string file = ExactRecordPath(record.Id);
        if (!File.Exists(file)) return false;
        // Verified before the first byte goes out when the output may be a pipe that cannot be taken back.
        if (checkFirst && !VerifyExact(record, tree, file)) return false;
        using FileStream replay = File.OpenRead(file);
        TarSplitReplayer.Replay(replay, tree, tarOutput);
        return true;
    }

    /// <summary>Whether the layer's files still give back its original tarball; warns why not.</summary>
    private bool VerifyExact(LayerRecord record, string tree, string file)
    {
        try
        {
            using FileStream check = File.OpenRead(file);
            if (TarSplitReplayer.Verify(check, tree)) return true;
            _options.Warning?.Invoke($"The files of layer {record.Id} changed since it was imported; exporting a fresh diff instead of the original tarball.");
            return false;
        }
        catch (InvalidDataException e)
        {
            _options.Warning?.Invoke($"The record of layer {record.Id}'s original tarball is damaged ({e.Message}); exporting a fresh diff instead.");
            return false;
        }
    }

    /// <summary>Once a layer's tree is written after its creation, an earlier tarball no longer describes it.</summary>
    private void MarkTouched(Session session, LayerRecord record)
    {
        if (!record.Untouched && !File.Exists(ExactRecordPath(record.Id))) return;
        record.Untouched = false;
        DeleteExactRecord(record.Id);
        // A layer still being created is removed whole after a crash: its record need not say this first.
        if (!record.Incomplete) session.SaveLayers();
    }

    private LayerRecord? ParentOf(Session session, LayerRecord record) =>
        record.Parent is null ? null : session.Layers.Layers.First(l => l.Id == record.Parent);

    /// <summary>
    /// Runs <paramref name="work"/> on the layer's tree: the driver's plain tree when only reading it,
    /// else through its mount if it is mounted, else mounted for the duration. A null layer is the empty
    /// tree (a base layer's "parent").
    /// </summary>
    private T WithTreeOrEmpty<T>(Session session, LayerRecord? record, bool writable, Func<string?, T> work)
    {
        if (record is null) return work(null);
        if (!writable && Driver.PlainTree(record.Id) is { } plain) return work(plain);
        if (session.Mounts.Live(record.Id) is { } entry)
        {
            if (writable && entry.ReadOnly)
                throw new LayerToolsException(LayerError.LayerMounted,
                    $"Layer '{Display(record)}' is mounted read-only at {entry.Path}; dismount it first.", record.Id);
            return work(entry.Path);
        }
        string path = Driver.Mount(record.Id, readOnly: !writable);
        try
        {
            return work(path);
        }
        finally
        {
            UnmountNow(record.Id, path, lazyIfBusy: true);
        }
    }

    private T WithTree<T>(Session session, LayerRecord record, bool writable, Func<string, T> work) =>
        WithTreeOrEmpty(session, record, writable, tree => work(tree!));

    private static FileStream OpenTarball(string file)
    {
        try
        {
            return new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (FileNotFoundException e)
        {
            throw new LayerToolsException(LayerError.ArchiveNotFound, $"The layer tarball '{file}' does not exist.", file, e);
        }
    }

    private string ExactRecordPath(string id) => Path.Combine(Root, ExactDirectory, id + ".tarsplit");

    private FileStream CreateExactFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return new FileStream(path, FileMode.Create, FileAccess.Write);
    }

    private void DeleteExactRecord(string id)
    {
        string file = ExactRecordPath(id);
        if (File.Exists(file)) File.Delete(file);
    }
}
