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
public static class TreeCopy
{
    private const string Activity = "Copying layer";
    private const int ProgressEvery = 100;
    // Every entry starts out 0700 and gets its real mode after chown, which would clear special bits.
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

    private sealed class Copier(string source, string target, Action<WorkProgress>? progress)
    {
        private static readonly TimeSpan ProgressPoll = TimeSpan.FromMilliseconds(10);
        private long _done;
        private string _lastCopied = "";
        // Cleared at the first file the target file system cannot reflink.
        private volatile bool _clone = true;

        public void Run(FileStatus rootStatus)
        {
            // Directories first, level by level, so that every file's directory exists when the files are
            // copied in parallel; their own owner, mode, attributes and times come last, deepest first,
            // since creating children would move their mtime and a read-only or setgid mode would get in
            // the way of (or leak into) the children.
            var directories = new List<(string Relative, FileStatus Status)> { ("", rootStatus) };
            var files = new List<(string Relative, FileStatus Status)>();
            Fs.Mkdir(target, OwnerOnly);
            for (int i = 0; i < directories.Count; i++)
            {
                string relative = directories[i].Relative;
                foreach (string name in SortedNames(Path.Join(source, relative)))
                {
                    string childRelative = relative.Length == 0 ? name : relative + "/" + name;
                    FileStatus childStatus = Fs.Lstat(Path.Join(source, childRelative));
                    if (childStatus.Kind == FileKind.Directory)
                    {
                        Fs.Mkdir(Path.Join(target, childRelative), OwnerOnly);
                        directories.Add((childRelative, childStatus));
                        Count(childRelative);
                    }
                    else
                    {
                        files.Add((childRelative, childStatus));
                    }
                }
            }

            // One name per inode is copied; the other names of a hard-linked inode are linked to that copy afterwards.
            var firstNames = new Dictionary<(ulong Device, ulong Inode), string>();
            var copies = new List<(string Relative, FileStatus Status)>(files.Count);
            var links = new List<(string Relative, string Target)>();
            foreach (var file in files)
            {
                if (file.Status.LinkCount > 1)
                {
                    var inode = (file.Status.Device, file.Status.Inode);
                    if (firstNames.TryGetValue(inode, out string? first))
                    {
                        links.Add((file.Relative, first));
                        continue;
                    }
                    firstNames.Add(inode, file.Relative);
                }
                copies.Add(file);
            }
            CopyInParallel(copies);
            foreach (var (relative, first) in links)
            {
                Fs.Link(Path.Join(target, first), Path.Join(target, relative));
                Count(relative);
            }

            // Level by level in reverse: every directory after all of its subdirectories.
            for (int i = directories.Count - 1; i >= 0; i--)
                ApplyAttributes(Path.Join(source, directories[i].Relative), Path.Join(target, directories[i].Relative), directories[i].Status);
        }

        /// <summary>
        /// Copies files on every core: creating inodes and copying data is kernel work that runs in
        /// parallel across directories. Progress is reported from this thread, the caller's, as a
        /// PowerShell host takes progress only from its pipeline thread.
        /// </summary>
        private void CopyInParallel(List<(string Relative, FileStatus Status)> copies)
        {
            if (copies.Count == 0) return;
            var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
            Task work = Task.Run(() => Parallel.ForEach(Partitioner.Create(0, copies.Count, rangeSize: 64), options, range =>
            {
                for (int i = range.Item1; i < range.Item2; i++)
                {
                    var (relative, status) = copies[i];
                    CopyNonDirectory(Path.Join(source, relative), Path.Join(target, relative), status);
                    _lastCopied = relative;
                    Interlocked.Increment(ref _done);
                }
            }));
            // At most one report per hundred entries, as in the sequential phases.
            long reported = Interlocked.Read(ref _done) / ProgressEvery;
            while (Task.WaitAny([work], ProgressPoll) < 0)
            {
                long done = Interlocked.Read(ref _done);
                if (done / ProgressEvery == reported) continue;
                reported = done / ProgressEvery;
                progress?.Invoke(new WorkProgress(Activity, _lastCopied, done, 0));
            }
            try
            {
                work.GetAwaiter().GetResult();
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                // The first failure as it was thrown, as a sequential copy would have ended with it.
                ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }
        }

        private void CopyNonDirectory(string from, string to, FileStatus status)
        {
            switch (status.Kind)
            {
                case FileKind.Regular:
                    CopyRegular(from, to, status);
                    break;
                case FileKind.Symlink:
                    Fs.Symlink(Fs.ReadLink(from), to);
                    break;
                default:
                    Fs.Mknod(to, status.Kind, OwnerOnly, status.RdevMajor, status.RdevMinor);
                    break;
            }
            ApplyAttributes(from, to, status);
        }

        private void CopyRegular(string from, string to, FileStatus status)
        {
            int input = Fs.OpenForReading(from);
            try
            {
                int output = Fs.Open(to, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW, OwnerOnly);
                try
                {
                    bool clone = _clone;
                    Fs.CopyContent(input, output, status.Size, sparse: status.Blocks * 512 < status.Size, ref clone, to);
                    if (!clone) _clone = false;
                }
                finally
                {
                    Fs.Close(output);
                }
            }
            finally
            {
                Fs.Close(input);
            }
        }

        private static void ApplyAttributes(string from, string to, FileStatus status)
        {
            // chown clears setuid/setgid and security.capability, so the mode and the attributes follow it.
            Fs.Lchown(to, status.Uid, status.Gid);
            // A symlink has no mode of its own, and chmod would follow it to its target.
            if (status.Kind != FileKind.Symlink) Fs.Chmod(to, status.Permissions);
            foreach (var (name, value) in Xattrs.Read(from))
                Xattrs.Set(to, name, value);
            Fs.SetTimes(to, status.Atime, status.Mtime);
        }

        private void Count(string relative)
        {
            long done = Interlocked.Increment(ref _done);
            if (done % ProgressEvery == 0)
                progress?.Invoke(new WorkProgress(Activity, relative, done, 0));
        }
    }

    private static string[] SortedNames(string directory)
    {
        string[] names = DirectoryListing.Names(directory);
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }
}
