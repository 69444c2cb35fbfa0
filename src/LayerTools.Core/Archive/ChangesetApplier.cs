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
/// directory of everything this archive did not create, in subdirectories too, as containers/storage does.
/// Neither stays in the tree.</para>
/// <para>Given the <see cref="IUnionLayers"/> beneath it, the root is a union's upper directory: only it is
/// written, a directory that lower layers hold is copied up before anything changes in it, a deletion of
/// something they hold becomes the union's whiteout, and a directory that must not show their entries
/// becomes opaque.</para>
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
    /// <param name="union">The layers beneath <paramref name="root"/> when it is a union's upper directory; null for a whole tree.</param>
    /// <exception cref="ArchiveCorruptException">The archive is damaged, holds an entry twice, or contradicts itself.</exception>
    /// <exception cref="ArchiveUnsafeEntryException">An entry would reach outside the tree.</exception>
    /// <exception cref="NativeException">A file-system call failed.</exception>
    public static ApplyResult Apply(TarReader reader, string root, Action<WorkProgress>? progress,
        Action<TarEntry, string>? applied = null, IUnionLayers? union = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentException.ThrowIfNullOrEmpty(root);
        using var tree = new BeneathRoot(root);
        return new Applier(reader, tree, progress, applied, union).Run();
    }

    /// <summary>What an archive path was, for refusing a second entry at it and for keeping whiteouts off it.</summary>
    private enum Seen { Directory, Other, Whiteout }

    private sealed class Applier(TarReader reader, BeneathRoot tree, Action<WorkProgress>? progress, Action<TarEntry, string>? applied, IUnionLayers? union)
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
            while (!tree.TryCreateFile(name, entry.Mode, out file)) ReplaceExisting(entry, path, name);
            using (file)
            {
                if (entry.SparseMap is { } segments)
                {
                    // Only the data segments are written, so the holes stay holes.
                    file.SetLength(entry.Size);
                    if (entry.StoredSize > 0)
                    {
                        TarPayloadStream payload = reader.OpenPayloadStream();
                        foreach (var (offset, length) in segments) Copy(entry, payload, file, offset, length);
                    }
                }
                else if (entry.Size > 0)
                {
                    Copy(entry, reader.OpenPayloadStream(), file, 0, entry.Size);
                }
                file.SetOwnerAndPermissions(entry.Uid, entry.Gid, entry.Mode);
                foreach (var (attribute, value) in entry.Xattrs) file.SetXattr(Stored(attribute), value);
                file.SetTimes(entry.Atime ?? entry.Mtime, entry.Mtime);
            }
        }

        private void Copy(TarEntry entry, TarPayloadStream payload, BeneathRoot.OpenedFile file, long offset, long length)
        {
            while (length > 0)
            {
                ReadOnlySpan<byte> read = payload.ReadView(_buffer.AsSpan(0, (int)Math.Min(_buffer.Length, length)));
                if (read.IsEmpty) throw Corrupt(entry, $"the entry's data ends {length} bytes early");
                file.WriteAt(read, offset);
                offset += read.Length;
                length -= read.Length;
            }
        }

        private void ApplyDirectory(TarEntry entry, string path, string name)
        {
            NoteChange();
            bool merged = false, replaced = false;
            while (!tree.TryMakeDirectory(name, NewDirectoryMode))
            {
                if (tree.Stat(name) is { Kind: FileKind.Directory })
                {
                    merged = true;
                    break;
                }
                ReplaceExisting(entry, path, name);
                replaced = true;
            }
            // In a union, a new upper directory merges with a lower one, unless it replaced what hid that one.
            if (!merged && !replaced && union?.Find(path) is { Status.Kind: FileKind.Directory }) merged = true;
            if (!merged)
            {
                _made.Add(path);
                HideLowerDirectory(path, name);
            }
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
            BeneathRoot.LinkSource source;
            while (!tree.TryOpenLinkSource(target, out source, out BeneathRoot.Block block))
            {
                bool upperLacksIt = block.Kind is null;
                block = ThroughLowerLayers(block, target);
                // In a union the target may be held by a lower layer alone: it is copied up first, as a link made through a mount would be.
                if (upperLacksIt && block.Path == target && block.Kind is { } kind && kind != FileKind.Directory)
                {
                    int slash = target.LastIndexOf('/');
                    EnterParent(entry, slash < 0 ? "" : target[..slash]);
                    CopyUp(union!.Find(target)!.Value, target[(slash + 1)..]);
                    EnterParent(entry, ParentOf(path));
                    continue;
                }
                throw Unsafe(entry, block switch
                {
                    { Kind: null } => $"its hard link target '{target}' does not exist in the tree",
                    { Kind: FileKind.Directory } when block.Path == target => $"its hard link target '{target}' is a directory",
                    _ => $"its hard link target '{target}' cannot be reached: {Blocked(block)}",
                });
            }
            using (source)
            {
                if (union is not null && union.IsWhiteout(source.Status))
                    throw Unsafe(entry, $"its hard link target '{target}' does not exist in the tree");
                NoteChange();
                while (!tree.TryLink(source, name)) ReplaceExisting(entry, path, name);
            }
        }

        /// <summary>Owner, mode, attributes and times of a symlink, device or FIFO, set through its name.</summary>
        private void ApplyAttributes(TarEntry entry, string name, bool isSymlink)
        {
            tree.SetOwner(name, entry.Uid, entry.Gid);
            if (!isSymlink) tree.SetPermissions(name, entry.Mode);
            foreach (var (attribute, value) in entry.Xattrs) tree.SetXattr(name, Stored(attribute), value);
            tree.SetTimes(name, entry.Atime ?? entry.Mtime, entry.Mtime);
        }

        private void ApplyWhiteout(TarEntry entry, string parent, string name)
        {
            if (name == OpaqueMarker)
            {
                _opaqueDirectories++;
                if (!TryEnterShown(entry, parent)) return;
                NoteChange();
                RemoveUnheld(parent);
                if (union is not null) HideLowerBelow(parent);
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
            if (!TryEnterShown(entry, parent) || !Shows(hidden, target)) return;
            NoteChange();
            tree.Remove(hidden);
            if (union?.Find(target) is not null) union.MakeWhiteout(tree, hidden);
        }

        /// <summary>Whether the tree shows something at <paramref name="name"/> in the current directory; <paramref name="path"/> is its whole path.</summary>
        private bool Shows(string name, string path) => tree.Stat(name) is { } status
            ? union is null || !union.IsWhiteout(status)
            : union?.Find(path) is not null;

        /// <summary>
        /// Removes everything in the current directory <paramref name="directory"/>, and in the directories
        /// kept there, that this archive did not create.
        /// </summary>
        private void RemoveUnheld(string directory)
        {
            var kept = new List<string>();
            tree.RemoveChildrenExcept(child =>
            {
                bool held = HeldByThisArchive(Join(directory, child));
                if (held) kept.Add(child);
                return held;
            });
            foreach (string child in kept)
            {
                string path = Join(directory, child);
                if (!tree.TryEnter(path, out _)) continue;
                NoteChange();
                RemoveUnheld(path);
            }
            tree.TryEnter(directory, out _);
        }

        /// <summary>
        /// After an opaque marker in a union, makes the directory hide every lower entry below it. overlayfs
        /// ignores the mark on its root, so there each lower entry gets a whiteout instead, and each
        /// directory the archive keeps there hides its own.
        /// </summary>
        private void HideLowerBelow(string directory)
        {
            if (directory.Length > 0)
            {
                tree.TryEnter(ParentOf(directory), out _);
                HideLowerDirectory(directory, directory[(directory.LastIndexOf('/') + 1)..]);
                return;
            }
            foreach (string name in union!.LowerNames(""))
            {
                if (tree.Stat(name) is null) union.MakeWhiteout(tree, name);
                else HideLowerDirectory(name, name);
            }
        }

        /// <summary>Makes the directory at <paramref name="path"/> (<paramref name="name"/> in the current directory) hide a lower directory there, if a union has one.</summary>
        private void HideLowerDirectory(string path, string name)
        {
            if (union?.Find(path) is { Status.Kind: FileKind.Directory } && tree.Stat(name) is { Kind: FileKind.Directory })
                union.MakeOpaque(tree, name);
        }

        /// <summary>
        /// Copies a lower layer's entry into the current upper directory as <paramref name="name"/>, as
        /// overlayfs copies up: same kind, content, owner, mode, extended attributes and times.
        /// </summary>
        private void CopyUp(LowerFile lower, string name)
        {
            NoteChange();
            FileStatus status = lower.Status;
            bool created;
            switch (status.Kind)
            {
                case FileKind.Directory:
                    created = tree.TryMakeDirectory(name, NewDirectoryMode);
                    break;
                case FileKind.Regular:
                    created = tree.TryCreateFile(name, out BeneathRoot.OpenedFile file);
                    if (created)
                    {
                        using (file)
                        using (var source = new FileStream(lower.HostPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
                        {
                            long offset = 0;
                            for (int read; (read = source.Read(_buffer)) > 0; offset += read) file.WriteAt(_buffer.AsSpan(0, read), offset);
                        }
                    }
                    break;
                case FileKind.Symlink:
                    created = tree.TryMakeSymlink(Fs.ReadLink(lower.HostPath), name);
                    break;
                default:
                    created = tree.TryMakeNode(name, status.Kind, status.RdevMajor, status.RdevMinor);
                    break;
            }
            // The name was free a moment ago; only something else writing the tree could have taken it.
            if (!created) throw new NativeException("copy up", Join(tree.CurrentPath, name), Errno.EEXIST);
            tree.SetOwner(name, status.Uid, status.Gid);
            if (status.Kind != FileKind.Symlink) tree.SetPermissions(name, status.Permissions);
            foreach (var (attribute, value) in Xattrs.Read(lower.HostPath))
            {
                if (union!.VisibleAttribute(attribute) is not null) tree.SetXattr(name, attribute, value);
            }
            tree.SetTimes(name, status.Atime, status.Mtime);
        }

        private string Stored(string attribute) => union?.StoredAttribute(attribute) ?? attribute;

        /// <summary>Whether the entry at <paramref name="name"/> in the current directory is a union's whiteout.</summary>
        private bool IsWhiteout(string name) => union is not null && tree.Stat(name) is { } status && union.IsWhiteout(status);

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
                string missing = block.Path[(block.Path.LastIndexOf('/') + 1)..];
                bool whiteout = block.Kind is not null && IsWhiteout(missing);
                if (block.Kind is not null && !whiteout) throw Unsafe(entry, Blocked(block));
                if (!whiteout && union?.Find(block.Path) is { } lower)
                {
                    // A union shows the lower layers' entry here: a directory is copied up to write in, anything else blocks the path as it would in a mount.
                    if (lower.Status.Kind != FileKind.Directory) throw Unsafe(entry, Blocked(block with { Kind = lower.Status.Kind }));
                    CopyUp(lower, missing);
                    continue;
                }
                NoteChange();
                if (whiteout) tree.Remove(missing);
                if (!tree.TryMakeDirectory(missing, ImplicitDirectoryMode)) continue;
                tree.SetOwner(missing, 0, 0);
                tree.SetPermissions(missing, ImplicitDirectoryMode);
                _made.Add(block.Path);
                HideLowerDirectory(block.Path, missing);
            }
        }

        /// <summary>
        /// Enters a directory the tree shows, for a whiteout; false if it shows none there, so there is
        /// nothing to hide. In a union, directories only lower layers hold are copied up on the way.
        /// </summary>
        private bool TryEnterShown(TarEntry entry, string directory)
        {
            while (!tree.TryEnter(directory, out BeneathRoot.Block block))
            {
                string missing = block.Path[(block.Path.LastIndexOf('/') + 1)..];
                if (block.Kind is not null) return IsWhiteout(missing) ? false : throw Unsafe(entry, Blocked(block));
                if (union?.Find(block.Path) is not { } lower) return false;
                if (lower.Status.Kind != FileKind.Directory) throw Unsafe(entry, Blocked(block with { Kind = lower.Status.Kind }));
                CopyUp(lower, missing);
            }
            return true;
        }

        /// <summary>
        /// Where a walk to <paramref name="path"/> that stopped at a component the upper directory lacks
        /// stops in a union: at the first component the lower layers do not show as a directory.
        /// </summary>
        private BeneathRoot.Block ThroughLowerLayers(BeneathRoot.Block block, string path)
        {
            if (union is null || block.Kind is not null) return block;
            for (string current = block.Path; ; )
            {
                if (union.Find(current) is not { } lower) return new(current, null);
                if (lower.Status.Kind != FileKind.Directory || current.Length == path.Length) return new(current, lower.Status.Kind);
                int next = path.IndexOf('/', current.Length + 1);
                current = next < 0 ? path : path[..next];
            }
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
                    // A union's own marks (an opaque directory's) are not the tree's attributes.
                    string? visible = union is null ? attribute : union.VisibleAttribute(attribute);
                    if (visible is not null && visible != SelinuxLabel && !entry.Xattrs.Any(x => x.Key == visible)) directory.RemoveXattr(attribute);
                }
            }
            foreach (var (attribute, value) in entry.Xattrs) directory.SetXattr(Stored(attribute), value);
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
        if (canonical) return raw;
        // Mostly a leading "./" (tar -C DIR .) or a directory's trailing '/'.
        var normal = new System.Text.StringBuilder(raw.Length);
        for (int i = 0, end; i <= raw.Length; i = end + 1)
        {
            end = raw.IndexOf('/', i);
            if (end < 0) end = raw.Length;
            ReadOnlySpan<char> component = raw.AsSpan(i, end - i);
            if (component.Length == 0 || component is ".") continue;
            if (normal.Length > 0) normal.Append('/');
            normal.Append(component);
        }
        return normal.ToString();
    }

    private static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    private static string ParentOf(string path) => path.LastIndexOf('/') is var slash and >= 0 ? path[..slash] : "";

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
