using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using LayerTools.Native;
using Tmds.Linux;

namespace LayerTools.Drivers.Vfs;

/// <summary>
/// Copies a layer tree with everything a root file system keeps on its inodes: every file type,
/// hardlink groups, owners, special mode bits, extended attributes (file capabilities included) and
/// nanosecond times. The copy is what the vfs driver hands a child layer in place of an overlay.
/// </summary>
/// <remarks>
/// Both trees are worked on through open directories, so each call resolves one name rather than a
/// path from the root: on a root file system's deep trees the path walks were a large share of the
/// kernel's work.
/// </remarks>
public static class TreeCopy
{
    private const string Activity = "Copying layer";
    private const int ProgressEvery = 100;
    // Every directory starts out 0700 and gets its real mode after chown, which would clear special bits.
    private const uint OwnerOnly = 0x1C0;

    /// <summary>Copies the directory <paramref name="source"/> to <paramref name="target"/>, which must not exist yet.</summary>
    public static void Copy(string source, string target, Action<WorkProgress>? progress)
    {
        FileStatus rootStatus = Fs.Lstat(source);
        if (rootStatus.Kind != FileKind.Directory)
            throw new NativeException("copy tree", source, Errno.ENOTDIR);

        var copy = new Copier(source, target, progress);
        copy.Run(rootStatus);
    }

    /// <summary>A directory of the source tree and the non-directories to copy into its copy.</summary>
    private sealed record SourceDirectory(string Relative, FileStatus Status)
    {
        public List<(string Name, FileStatus Status)> Files { get; } = [];
    }

    private sealed class Copier(string source, string target, Action<WorkProgress>? progress)
    {
        private static readonly TimeSpan ProgressPoll = TimeSpan.FromMilliseconds(10);
        // What a new node is owned by: the copy's creator, as no directory of the copy is setgid until the end.
        private readonly (uint Uid, uint Gid) _creator = (LibC.geteuid(), LibC.getegid());
        // Directories whose files are ready to copy, from the walk to the workers.
        private readonly BlockingCollection<SourceDirectory> _listed = new();
        private readonly CancellationTokenSource _stop = new();
        private ExceptionDispatchInfo? _failure;
        private long _done;
        private string _lastCopied = "";
        // Cleared at the first file the target file system cannot reflink.
        private volatile bool _clone = true;

        public void Run(FileStatus rootStatus)
        {
            // Directories are made level by level as the walk lists them, and each listed directory's files
            // are copied on every core while the walk goes on. The directories' own owner, mode, attributes
            // and times come last, deepest first, since creating children would move their mtime and a
            // read-only or setgid mode would get in the way of (or leak into) the children.
            var directories = new List<SourceDirectory> { new("", rootStatus) };
            var links = new List<(string Relative, string Target)>();
            Fs.Mkdir(target, OwnerOnly);
            // A setgid parent passes its setgid bit to the new root, which would pass its group down the copy.
            Fs.Chmod(target, OwnerOnly);
            using var tree = new BeneathRoot(target);
            Task[] workers = Enumerable.Range(0, Environment.ProcessorCount)
                .Select(_ => Task.Factory.StartNew(CopyListedFiles, TaskCreationOptions.LongRunning))
                .ToArray();
            try
            {
                Walk(tree, directories, links);
            }
            catch (Exception e)
            {
                Fail(e);
            }
            finally
            {
                _listed.CompleteAdding();
            }
            WaitReportingProgress(Task.WhenAll(workers));
            _failure?.Throw();

            foreach (var (relative, first) in links)
            {
                Fs.Link(Path.Join(target, first), Path.Join(target, relative));
                Count(relative);
            }
            ApplyDirectoryAttributes(directories, tree);
        }

        /// <summary>
        /// Gives the copied directories their own attributes level by level, deepest first, so each comes after
        /// all of its subdirectories; the directories of one level on every core, the root last.
        /// </summary>
        private void ApplyDirectoryAttributes(List<SourceDirectory> directories, BeneathRoot tree)
        {
            // The walk listed them level by level, so each level is a run of the list.
            int end = directories.Count;
            while (end > 1)
            {
                int depth = Depth(directories[end - 1]);
                int start = end - 1;
                while (start > 1 && Depth(directories[start - 1]) == depth) start--;
                try
                {
                    Parallel.For(start, end, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                        () => new BeneathRoot(target),
                        (i, _, level) =>
                        {
                            ApplyDirectoryAttributes(level, directories[i], isRoot: false);
                            return level;
                        },
                        level => level.Dispose());
                }
                catch (AggregateException e) when (e.InnerExceptions.Count > 0)
                {
                    ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
                }
                end = start;
            }
            ApplyDirectoryAttributes(tree, directories[0], isRoot: true);
        }

        private static int Depth(SourceDirectory directory) => directory.Relative.Count(c => c == '/');

        private void Walk(BeneathRoot tree, List<SourceDirectory> directories, List<(string Relative, string Target)> links)
        {
            // One name per inode is copied; the other names of a hard-linked inode are linked to that copy afterwards.
            var firstNames = new Dictionary<(ulong Device, ulong Inode), string>();
            for (int i = 0; i < directories.Count && !_stop.IsCancellationRequested; i++)
            {
                SourceDirectory directory = directories[i];
                using DirectoryHandle from = DirectoryHandle.Open(Path.Join(source, directory.Relative));
                Enter(tree, directory.Relative);
                List<string> names = from.Names();
                names.Sort(StringComparer.Ordinal);
                foreach (string name in names)
                {
                    string relative = Join(directory.Relative, name);
                    FileStatus status = from.Lstat(name);
                    if (status.Kind == FileKind.Directory)
                    {
                        if (!tree.TryMakeDirectory(name, OwnerOnly)) throw Exists("mkdir", relative);
                        directories.Add(new SourceDirectory(relative, status));
                        Count(relative);
                    }
                    else if (status.LinkCount > 1 && !firstNames.TryAdd((status.Device, status.Inode), relative))
                    {
                        links.Add((relative, firstNames[(status.Device, status.Inode)]));
                    }
                    else
                    {
                        directory.Files.Add((name, status));
                    }
                }
                if (directory.Files.Count > 0) _listed.Add(directory);
            }
        }

        /// <summary>
        /// One worker: copies the files of listed directories until the walk is done. Creating inodes and
        /// copying data is kernel work that runs in parallel across directories.
        /// </summary>
        private void CopyListedFiles()
        {
            using var tree = new BeneathRoot(target);
            try
            {
                foreach (SourceDirectory directory in _listed.GetConsumingEnumerable(_stop.Token))
                    CopyFiles(directory, tree);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                // Another worker or the walk failed; its failure is the one reported.
            }
            catch (Exception e)
            {
                Fail(e);
            }
        }

        /// <summary>Keeps the first failure, as a sequential copy would have ended with it, and stops the rest.</summary>
        private void Fail(Exception e)
        {
            Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            _stop.Cancel();
        }

        /// <summary>Waits for the workers; progress goes out from this thread, the caller's, as a PowerShell host takes it only from its pipeline thread.</summary>
        private void WaitReportingProgress(Task copying)
        {
            // At most one report per hundred entries, as in the sequential phases.
            long reported = Interlocked.Read(ref _done) / ProgressEvery;
            while (Task.WaitAny([copying], ProgressPoll) < 0)
            {
                long done = Interlocked.Read(ref _done);
                if (done / ProgressEvery == reported) continue;
                reported = done / ProgressEvery;
                progress?.Invoke(new WorkProgress(Activity, _lastCopied, done, 0));
            }
        }

        private void CopyFiles(SourceDirectory directory, BeneathRoot tree)
        {
            using DirectoryHandle from = DirectoryHandle.Open(Path.Join(source, directory.Relative));
            Enter(tree, directory.Relative);
            foreach (var (name, status) in directory.Files)
            {
                CopyNonDirectory(from, tree, name, status);
                _lastCopied = Join(directory.Relative, name);
                Interlocked.Increment(ref _done);
            }
        }

        private void CopyNonDirectory(DirectoryHandle from, BeneathRoot tree, string name, FileStatus status)
        {
            switch (status.Kind)
            {
                case FileKind.Regular:
                    CopyRegular(from, tree, name, status);
                    return;
                case FileKind.Symlink:
                    if (!tree.TryMakeSymlink(from.ReadLink(name), name)) throw Exists("symlink", tree, name);
                    break;
                default:
                    if (!tree.TryMakeNode(name, status.Kind, status.RdevMajor, status.RdevMinor)) throw Exists("mknod", tree, name);
                    break;
            }
            // chown clears setuid/setgid and security.capability, so the mode and the attributes follow it.
            if (!OwnedAsCreated(status)) tree.SetOwner(name, status.Uid, status.Gid);
            // A symlink has no mode of its own, and chmod would follow it to its target.
            if (status.Kind != FileKind.Symlink) tree.SetPermissions(name, status.Permissions);
            if (from.HasXattrs(name))
            {
                foreach (var (attribute, value) in Xattrs.Read(from.PathOf(name)))
                    tree.SetXattr(name, attribute, value);
            }
            tree.SetTimes(name, status.Atime, status.Mtime);
        }

        private void CopyRegular(DirectoryHandle from, BeneathRoot tree, string name, FileStatus status)
        {
            int input = from.OpenForReading(name);
            try
            {
                if (!tree.TryCreateFile(name, status.Permissions, out BeneathRoot.OpenedFile output)) throw Exists("open", tree, name);
                using (output)
                {
                    bool clone = _clone;
                    output.CopyContentFrom(input, status.Size, sparse: status.Blocks * 512 < status.Size, ref clone);
                    if (!clone) _clone = false;
                    output.SetOwnerAndPermissions(status.Uid, status.Gid, status.Permissions);
                    if (from.HasXattrs(name))
                    {
                        foreach (var (attribute, value) in Xattrs.Read(from.PathOf(name)))
                            output.SetXattr(attribute, value);
                    }
                    output.SetTimes(status.Atime, status.Mtime);
                }
            }
            finally
            {
                Fs.Close(input);
            }
        }

        private void ApplyDirectoryAttributes(BeneathRoot tree, SourceDirectory directory, bool isRoot)
        {
            if (!tree.TryOpenDirectory(directory.Relative, out BeneathRoot.OpenedFile opened, out BeneathRoot.Block block))
                throw Unreachable(block);
            using (opened)
            {
                // The root took its group from a directory the copy does not own.
                if (isRoot || !OwnedAsCreated(directory.Status)) opened.SetOwner(directory.Status.Uid, directory.Status.Gid);
                opened.SetPermissions(directory.Status.Permissions);
                foreach (var (attribute, value) in Xattrs.Read(Path.Join(source, directory.Relative)))
                    opened.SetXattr(attribute, value);
                opened.SetTimes(directory.Status.Atime, directory.Status.Mtime);
            }
        }

        /// <summary>Whether a node made by the copy already has the owner and group of <paramref name="status"/>: chown would be a no-op that still costs a journal update.</summary>
        private bool OwnedAsCreated(FileStatus status) => (status.Uid, status.Gid) == _creator;

        private void Enter(BeneathRoot tree, string relative)
        {
            if (!tree.TryEnter(relative, out BeneathRoot.Block block)) throw Unreachable(block);
        }

        private void Count(string relative)
        {
            long done = Interlocked.Increment(ref _done);
            if (done % ProgressEvery == 0)
                progress?.Invoke(new WorkProgress(Activity, relative, done, 0));
        }

        // The copy made these directories and names itself; finding them missing or taken means something
        // else is writing into the new tree.
        private NativeException Unreachable(BeneathRoot.Block block) =>
            new("open", Path.Join(target, block.Path), block.Kind is null ? Errno.ENOENT : Errno.ENOTDIR);

        private NativeException Exists(string call, string relative) => new(call, Path.Join(target, relative), Errno.EEXIST);

        private NativeException Exists(string call, BeneathRoot tree, string name) =>
            Exists(call, Join(tree.CurrentPath, name));

        private static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;
    }
}
