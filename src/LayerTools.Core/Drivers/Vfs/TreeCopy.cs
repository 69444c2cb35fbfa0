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
        // Inodes with more than one name, by (device, inode), mapped to their first name in the copy.
        private readonly Dictionary<(ulong Device, ulong Inode), string> linked = new();
        private long done;

        public void Run(FileStatus rootStatus)
        {
            // A directory's own owner, mode, attributes and times are applied only after all its children
            // exist: creating children would move its mtime, and a read-only or setgid mode would get in
            // the way of (or leak into) the children. Hence a post-order walk, over an explicit stack so
            // that deep trees cannot overflow the call stack.
            var pending = new Stack<(string Relative, FileStatus Status, bool Filled)>();
            Fs.Mkdir(target, OwnerOnly);
            pending.Push(("", rootStatus, false));
            while (pending.Count > 0)
            {
                var (relative, status, filled) = pending.Pop();
                if (filled)
                {
                    ApplyAttributes(Path.Join(source, relative), Path.Join(target, relative), status);
                    continue;
                }
                pending.Push((relative, status, true));
                var subdirectories = new List<(string Relative, FileStatus Status)>();
                foreach (string name in SortedNames(Path.Join(source, relative)))
                {
                    string childRelative = relative.Length == 0 ? name : relative + "/" + name;
                    string from = Path.Join(source, childRelative);
                    string to = Path.Join(target, childRelative);
                    FileStatus childStatus = Fs.Lstat(from);
                    if (childStatus.Kind == FileKind.Directory)
                    {
                        Fs.Mkdir(to, OwnerOnly);
                        subdirectories.Add((childRelative, childStatus));
                    }
                    else
                    {
                        CopyNonDirectory(from, to, childStatus);
                    }
                    Count(childRelative);
                }
                // Reversed so that the stack hands the subdirectories back in name order.
                for (int i = subdirectories.Count - 1; i >= 0; i--)
                    pending.Push((subdirectories[i].Relative, subdirectories[i].Status, false));
            }
        }

        private void CopyNonDirectory(string from, string to, FileStatus status)
        {
            if (status.LinkCount > 1)
            {
                if (linked.TryGetValue((status.Device, status.Inode), out string? firstCopy))
                {
                    Fs.Link(firstCopy, to);
                    return;
                }
                linked.Add((status.Device, status.Inode), to);
            }

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

        // Cleared at the first file the target file system cannot reflink.
        private bool _clone = true;

        private void CopyRegular(string from, string to, FileStatus status)
        {
            int input = Fs.OpenForReading(from);
            try
            {
                int output = Fs.Open(to, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW, OwnerOnly);
                try
                {
                    Fs.CopyContent(input, output, status.Size, sparse: status.Blocks * 512 < status.Size, ref _clone, to);
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
            done++;
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
