using LayerTools.Native;

namespace LayerTools.Archive;

/// <summary>
/// Applies an OCI layer changeset (a tar of the files a layer adds or changes, with whiteouts for those it
/// removes) onto a directory holding the parent layer's tree, or an empty one for a base layer, as
/// containers/storage and Docker do, so that applying a diff reproduces the tree it was taken from.
/// </summary>
/// <remarks>
/// <para>Every path is resolved beneath the root without following a symlink (see <see cref="BeneathRoot"/>):
/// a ".." component, a path through a symlink or a non-directory, or a hard link to something the tree does
/// not hold ends in <see cref="ArchiveUnsafeEntryException"/>, and nothing outside the root is touched.</para>
/// <para>Per entry, whatever is at its name is replaced (a directory entry merges into an existing
/// directory), then owner, mode, extended attributes and times are set, in that order: chown clears setuid,
/// setgid and file capabilities. Directories get their attributes only after the whole archive, deepest
/// first, because creating their children would move their times. A directory the archive writes into
/// without naming it gets its own times back at the end.</para>
/// <para>Whiteouts hide what lower layers hold: <c>.wh.NAME</c> removes NAME, <c>.wh..wh..opq</c> empties its
/// directory of everything this archive did not create. Neither stays in the tree.</para>
/// <para>Any failure throws and leaves the tree half applied; the caller discards it.</para>
/// </remarks>
public static class ChangesetApplier
{
    private const string Activity = "Applying layer";
    private const int ProgressEvery = 100;
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    // The kernel and the security policy own this label; removing it from a merged directory would fail or unlabel it.
    private const string SelinuxLabel = "security.selinux";
    private const uint ImplicitDirectoryMode = 0x1ED; // 0755, as GNU tar makes missing parents
    private const uint NewDirectoryMode = 0x1C0; // 0700 until the entry's own mode is set at the end
    private const int CopyBufferSize = 1 << 20;

    /// <summary>
    /// Reads <paramref name="reader"/> to its end and applies every entry to the existing directory
    /// <paramref name="root"/>.
    /// </summary>
    /// <param name="progress">Called every 100 entries with the entry's name and the tar bytes read so far.</param>
    /// <param name="applied">Called once per entry as soon as it is applied, before the next is read, with its normalised path ("" for the root).</param>
    /// <exception cref="ArchiveCorruptException">The archive is damaged, holds an entry twice, or contradicts itself.</exception>
    /// <exception cref="ArchiveUnsafeEntryException">An entry would reach outside the tree.</exception>
    /// <exception cref="NativeException">A file-system call failed.</exception>
    public static ApplyResult Apply(TarReader reader, string root, Action<WorkProgress>? progress, Action<TarEntry, string>? applied = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentException.ThrowIfNullOrEmpty(root);
        using var tree = new BeneathRoot(root);
        return new Applier(reader, tree, progress, applied).Run();
    }

    /// <summary>What an archive path was, for refusing a second entry at it and for keeping whiteouts off it.</summary>
    private enum Seen { Directory, Other, Whiteout }

    private sealed class Applier(TarReader reader, BeneathRoot tree, Action<WorkProgress>? progress, Action<TarEntry, string>? applied)
    {
        private readonly byte[] _buffer = new byte[CopyBufferSize];
        private readonly Dictionary<string, Seen> _seen = new(StringComparer.Ordinal);
        // Directories above an entry of this archive: whiteouts, opaque markers and replacements leave them alone.
        private readonly HashSet<string> _holders = new(StringComparer.Ordinal);
        // Directories this apply created, by entry or as missing parents.
        private readonly HashSet<string> _made = new(StringComparer.Ordinal);
        // Directory entries, whose attributes are set at the end; the last entry for a path wins.
        private readonly Dictionary<string, TarEntry> _directories = new(StringComparer.Ordinal);
        // Times of existing directories from before this apply first changed them.
        private readonly Dictionary<string, (Timestamp Atime, Timestamp Mtime)> _originalTimes = new(StringComparer.Ordinal);
        private readonly HashSet<uint> _uids = new();
        private readonly HashSet<uint> _gids = new();
        private string? _lastNoted;
        private long _entries;
        private long _payloadBytes;
        private int _whiteouts;
        private int _opaqueDirectories;

        public ApplyResult Run()
        {
            while (reader.Next() is { } entry)
            {
                string path = ApplyEntry(entry);
                applied?.Invoke(entry, path);
                if (++_entries % ProgressEvery == 0)
                    progress?.Invoke(new WorkProgress(Activity, entry.Name, reader.Position, 0));
            }
            FinishDirectories();
            return new ApplyResult
            {
                Entries = _entries,
                PayloadBytes = _payloadBytes,
                ArchiveBytes = reader.Position,
                Uids = [.. _uids.Order()],
                Gids = [.. _gids.Order()],
                Whiteouts = _whiteouts,
                OpaqueDirectories = _opaqueDirectories,
            };
        }

        private string ApplyEntry(TarEntry entry)
        {
            string path = Normalize(entry.Name, entry, "its path");
            int slash = path.LastIndexOf('/');
            string parent = slash < 0 ? "" : path[..slash];
            string name = path[(slash + 1)..];
            bool whiteout = name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal);

            if (entry.StoredSize > 0 && (whiteout || entry.Type != TarEntryType.Regular))
                throw Corrupt(entry, $"{(whiteout ? "a whiteout" : $"a {Describe(entry.Type)}")} cannot carry data, yet the entry stores {entry.StoredSize} bytes");
            if (parent.StartsWith(WhiteoutPrefix, StringComparison.Ordinal) || parent.Contains("/" + WhiteoutPrefix, StringComparison.Ordinal))
                throw Unsafe(entry, "a whiteout name (.wh.*) can only end a path, not name a directory on it");

            Seen kind = whiteout ? Seen.Whiteout : entry.Type == TarEntryType.Directory ? Seen.Directory : Seen.Other;
            if (!_seen.TryAdd(path, kind) && !(kind == Seen.Directory && _seen[path] == Seen.Directory))
                throw Corrupt(entry, $"duplicate entry '{path}': the archive already applied {Describe(_seen[path])} there");

            if (whiteout)
            {
                ApplyWhiteout(entry, parent, name);
                return path;
            }

            _payloadBytes += entry.StoredSize;
            _uids.Add(entry.Uid);
            _gids.Add(entry.Gid);
            if (path.Length == 0)
            {
                if (entry.Type != TarEntryType.Directory)
                    throw Unsafe(entry, $"it names the root of the tree, which can only be a directory, as a {Describe(entry.Type)}");
                _directories[path] = entry;
                return path;
            }

            MarkHolders(parent);
            EnterParent(entry, parent);
            switch (entry.Type)
            {
                case TarEntryType.Regular:
                    ApplyFile(entry, path, name);
                    break;
                case TarEntryType.Directory:
                    ApplyDirectory(entry, path, name);
                    break;
                case TarEntryType.Symlink:
                    NoteChange();
                    while (!tree.TryMakeSymlink(entry.LinkName!, name)) ReplaceExisting(entry, path, name);
                    ApplyAttributes(entry, name, isSymlink: true);
                    break;
                case TarEntryType.Hardlink:
                    ApplyHardlink(entry, path, name);
                    break;
                case TarEntryType.CharDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                    FileKind node = entry.Type switch
                    {
                        TarEntryType.CharDevice => FileKind.CharDevice,
                        TarEntryType.BlockDevice => FileKind.BlockDevice,
                        _ => FileKind.Fifo,
                    };
                    NoteChange();
                    while (!tree.TryMakeNode(name, node, entry.DevMajor, entry.DevMinor)) ReplaceExisting(entry, path, name);
                    ApplyAttributes(entry, name, isSymlink: false);
                    break;
            }
            return path;
        }

        private void ApplyFile(TarEntry entry, string path, string name)
        {
            NoteChange();
            BeneathRoot.OpenedFile file;
            while (!tree.TryCreateFile(name, out file)) ReplaceExisting(entry, path, name);
            using (file)
            {
                if (entry.SparseMap is { } segments)
                {
                    // Only the data segments are written, so the holes stay holes.
                    file.SetLength(entry.Size);
                    if (entry.StoredSize > 0)
                    {
                        Stream payload = reader.OpenPayload();
                        foreach (var (offset, length) in segments) Copy(entry, payload, file, offset, length);
                    }
                }
                else if (entry.Size > 0)
                {
                    Copy(entry, reader.OpenPayload(), file, 0, entry.Size);
                }
                file.SetOwner(entry.Uid, entry.Gid);
                file.SetPermissions(entry.Mode);
                foreach (var (attribute, value) in entry.Xattrs) file.SetXattr(attribute, value);
                file.SetTimes(entry.Atime ?? entry.Mtime, entry.Mtime);
            }
        }

        private void Copy(TarEntry entry, Stream payload, BeneathRoot.OpenedFile file, long offset, long length)
        {
            while (length > 0)
            {
                int read = payload.Read(_buffer, 0, (int)Math.Min(_buffer.Length, length));
                if (read == 0) throw Corrupt(entry, $"the entry's data ends {length} bytes early");
                file.WriteAt(_buffer.AsSpan(0, read), offset);
                offset += read;
                length -= read;
            }
        }

        private void ApplyDirectory(TarEntry entry, string path, string name)
        {
            NoteChange();
            bool merged = false;
            while (!tree.TryMakeDirectory(name, NewDirectoryMode))
            {
                if (tree.Stat(name) is { Kind: FileKind.Directory })
                {
                    merged = true;
                    break;
                }
                ReplaceExisting(entry, path, name);
            }
            if (!merged) _made.Add(path);
            _directories[path] = entry;
        }

        private void ApplyHardlink(TarEntry entry, string path, string name)
        {
            // The target is a path in the layer, absolute or not; either way it resolves beneath the root.
            string target = Normalize(entry.LinkName!, entry, "its hard link target");
            if (target.Length == 0) throw Unsafe(entry, "its hard link target is the root directory");
            if (target == path) throw Corrupt(entry, "the hard link names itself as its target");
            if (target.StartsWith(path + "/", StringComparison.Ordinal))
                throw Unsafe(entry, $"its hard link target '{target}' lies inside '{path}', which the link replaces");
            if (!tree.TryOpenLinkSource(target, out BeneathRoot.LinkSource source, out BeneathRoot.Block block))
            {
                throw Unsafe(entry, block switch
                {
                    { Kind: null } => $"its hard link target '{target}' does not exist in the tree",
                    { Kind: FileKind.Directory } when block.Path == target => $"its hard link target '{target}' is a directory",
                    _ => $"its hard link target '{target}' cannot be reached: {Blocked(block)}",
                });
            }
            using (source)
            {
                NoteChange();
                while (!tree.TryLink(source, name)) ReplaceExisting(entry, path, name);
            }
        }

        /// <summary>Owner, mode, attributes and times of a symlink, device or FIFO, set through its name.</summary>
        private void ApplyAttributes(TarEntry entry, string name, bool isSymlink)
        {
            tree.SetOwner(name, entry.Uid, entry.Gid);
            if (!isSymlink) tree.SetPermissions(name, entry.Mode);
            foreach (var (attribute, value) in entry.Xattrs) tree.SetXattr(name, attribute, value);
            tree.SetTimes(name, entry.Atime ?? entry.Mtime, entry.Mtime);
        }

        private void ApplyWhiteout(TarEntry entry, string parent, string name)
        {
            if (name == OpaqueMarker)
            {
                _opaqueDirectories++;
                if (!TryEnterExisting(entry, parent)) return;
                NoteChange();
                tree.RemoveChildrenExcept(child => HeldByThisArchive(Join(parent, child)));
                return;
            }

            string hidden = name[WhiteoutPrefix.Length..];
            if (hidden.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                throw Unsafe(entry, $"'{name}' is not a known whiteout: only .wh.NAME and {OpaqueMarker} are defined");
            if (hidden is "" or "." or "..")
                throw Unsafe(entry, $"the whiteout names '{hidden}', which is not a file it could remove");
            string target = Join(parent, hidden);
            if (HeldByThisArchive(target))
                throw Corrupt(entry, $"the whiteout would remove '{target}', which this same archive created; a whiteout only hides lower layers' files");

            _whiteouts++;
            if (!TryEnterExisting(entry, parent) || tree.Stat(hidden) is null) return;
            NoteChange();
            tree.Remove(hidden);
        }

        private bool HeldByThisArchive(string path) =>
            (_seen.TryGetValue(path, out Seen seen) && seen != Seen.Whiteout) || _holders.Contains(path);

        /// <summary>Adds the directories above an entry to the holders; they are added from the bottom, so the first one known ends the climb.</summary>
        private void MarkHolders(string parent)
        {
            for (string directory = parent; directory.Length > 0 && _holders.Add(directory);)
            {
                int slash = directory.LastIndexOf('/');
                directory = slash < 0 ? "" : directory[..slash];
            }
        }

        /// <summary>Makes the entry's parent the current directory, creating missing directories (0755, root's) on the way, as GNU tar does.</summary>
        private void EnterParent(TarEntry entry, string parent)
        {
            while (!tree.TryEnter(parent, out BeneathRoot.Block block))
            {
                if (block.Kind is not null) throw Unsafe(entry, Blocked(block));
                NoteChange();
                string missing = block.Path[(block.Path.LastIndexOf('/') + 1)..];
                if (!tree.TryMakeDirectory(missing, ImplicitDirectoryMode)) continue;
                tree.SetOwner(missing, 0, 0);
                tree.SetPermissions(missing, ImplicitDirectoryMode);
                _made.Add(block.Path);
            }
        }

        /// <summary>Enters an existing directory for a whiteout; false if it is missing, so there is nothing to hide.</summary>
        private bool TryEnterExisting(TarEntry entry, string directory)
        {
            if (tree.TryEnter(directory, out BeneathRoot.Block block)) return true;
            return block.Kind is null ? false : throw Unsafe(entry, Blocked(block));
        }

        /// <summary>
        /// Called before anything in the current directory is created or removed: an existing directory's
        /// times are kept, to be put back at the end unless an entry of the archive sets them.
        /// </summary>
        private void NoteChange()
        {
            string current = tree.CurrentPath;
            if (ReferenceEquals(current, _lastNoted)) return;
            _lastNoted = current;
            if (_made.Contains(current) || _originalTimes.ContainsKey(current)) return;
            FileStatus status = tree.StatCurrent();
            _originalTimes.Add(current, (status.Atime, status.Mtime));
        }

        /// <summary>Clears <paramref name="name"/> for an entry, unless it is a directory holding entries of this archive.</summary>
        private void ReplaceExisting(TarEntry entry, string path, string name)
        {
            if (tree.Stat(name) is not { } existing) return;
            if (existing.Kind == FileKind.Directory && _holders.Contains(path))
                throw Corrupt(entry, $"it would replace the directory '{path}', which holds entries this archive already applied");
            tree.Remove(name);
        }

        /// <summary>
        /// Sets the attributes of every directory entry, and puts back the times of existing directories the
        /// archive changed without naming them. Deepest first, so that no parent's new mode gets in the way.
        /// </summary>
        private void FinishDirectories()
        {
            var pending = new List<string>(_directories.Keys);
            foreach (string path in _originalTimes.Keys)
            {
                if (!_directories.ContainsKey(path) && !_made.Contains(path)) pending.Add(path);
            }
            pending.Sort((a, b) => Depth(b).CompareTo(Depth(a)) is var byDepth and not 0 ? byDepth : string.CompareOrdinal(a, b));

            foreach (string path in pending)
            {
                if (_directories.TryGetValue(path, out TarEntry? entry))
                {
                    if (!tree.TryOpenDirectory(path, out BeneathRoot.OpenedFile directory, out BeneathRoot.Block block))
                        throw Unsafe(entry, $"its directory cannot be reached to set its attributes: {Blocked(block)}");
                    using (directory) FinishDirectory(entry, path, directory);
                }
                // A directory that is gone, or lies beyond a symlink an entry made since, keeps nothing to restore.
                else if (tree.TryOpenDirectory(path, out BeneathRoot.OpenedFile directory, out _))
                {
                    using (directory) directory.SetTimes(_originalTimes[path].Atime, _originalTimes[path].Mtime);
                }
            }
        }

        private void FinishDirectory(TarEntry entry, string path, BeneathRoot.OpenedFile directory)
        {
            directory.SetOwner(entry.Uid, entry.Gid);
            directory.SetPermissions(entry.Mode);
            // A merged directory ends with exactly the entry's attributes, as the tree the diff came from had.
            if (!_made.Contains(path))
            {
                foreach (string attribute in directory.ListXattrs())
                {
                    if (attribute != SelinuxLabel && !entry.Xattrs.Any(x => x.Key == attribute)) directory.RemoveXattr(attribute);
                }
            }
            foreach (var (attribute, value) in entry.Xattrs) directory.SetXattr(attribute, value);
            directory.SetTimes(entry.Atime ?? entry.Mtime, entry.Mtime);
        }

        private static int Depth(string path) => path.Length == 0 ? 0 : path.Count(c => c == '/') + 1;
    }

    /// <summary>
    /// The path relative to the root: leading "/" and "./" dropped (GNU tar strips a leading '/'), repeated
    /// and trailing '/' collapsed, "." components dropped; "" is the root. A ".." anywhere is refused.
    /// </summary>
    private static string Normalize(string raw, TarEntry entry, string what)
    {
        bool canonical = true;
        int start = 0;
        for (int i = 0; i <= raw.Length; i++)
        {
            if (i < raw.Length && raw[i] != '/') continue;
            ReadOnlySpan<char> component = raw.AsSpan(start, i - start);
            if (component is "..") throw Unsafe(entry, $"{what} '{raw}' has a '..' component, which could climb out of the tree");
            if (component.Length == 0 || component is ".") canonical = false;
            start = i + 1;
        }
        return canonical ? raw : string.Join('/', raw.Split('/').Where(c => c.Length > 0 && c != "."));
    }

    private static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    private static string Blocked(BeneathRoot.Block block) => block.Kind switch
    {
        null => $"'{block.Path}' does not exist",
        FileKind.Symlink => $"'{block.Path}' is a symlink, and no path is followed through one (it could lead outside the tree)",
        FileKind.Regular => $"'{block.Path}' is a regular file, not a directory",
        { } kind => $"'{block.Path}' is a {kind}, not a directory",
    };

    private static string Describe(TarEntryType type) => type switch
    {
        TarEntryType.Regular => "regular file",
        TarEntryType.Directory => "directory",
        TarEntryType.Symlink => "symlink",
        TarEntryType.Hardlink => "hard link",
        TarEntryType.CharDevice => "character device",
        TarEntryType.BlockDevice => "block device",
        _ => "FIFO",
    };

    private static string Describe(Seen seen) => seen switch
    {
        Seen.Directory => "a directory",
        Seen.Whiteout => "a whiteout",
        _ => "an entry",
    };

    private static ArchiveCorruptException Corrupt(TarEntry entry, string problem) => new(problem, entry.Name);

    private static ArchiveUnsafeEntryException Unsafe(TarEntry entry, string problem) => new(entry.Name, problem);
}
