using System.Security.Cryptography;
using System.Text;
using LayerTools.Drivers;
using LayerTools.Native;

namespace LayerTools.Store;

/// <summary>
/// An opened layer store: its records (layers.json), its driver, its lock and its mount table.
/// Every change runs under the store's exclusive file lock against freshly read metadata, so
/// several processes can share one store; reads take no lock and see whole files only.
/// </summary>
public sealed partial class StoreEngine
{
    private const string ConfigFile = "store.json";
    private const string LayersFile = "layers.json";
    private const string LockFile = "store.lock";

    private readonly StoreOptions _options;

    private StoreEngine(StoreOptions options, string root, StoreConfig config)
    {
        _options = options;
        Root = root;
        RunDirectory = RunDirectoryOf(root, options.RunRoot);
        Driver = DriverRegistry.Create(config.Driver, root);
    }

    public string Root { get; }
    public string RunDirectory { get; }
    public ILayerDriver Driver { get; }

    /// <summary>Opens a store, initializing it with the default driver if it has never been used.</summary>
    public static StoreEngine Open(StoreOptions options) =>
        OpenExisting(options) ?? Initialize(options, driver: null, force: false);

    /// <summary>Opens a store that has been initialized; null if there is none at the root.</summary>
    public static StoreEngine? OpenExisting(StoreOptions options)
    {
        string root = FullPath(options.Root);
        StoreConfig? config = MetadataFile.Read<StoreConfig>(Path.Combine(root, ConfigFile));
        return config is null ? null : new StoreEngine(options, root, config);
    }

    /// <summary>
    /// Initializes a store. Initializing an existing store again is a no-op when the driver matches;
    /// <paramref name="force"/> unmounts and removes every layer and starts over with the driver given.
    /// With no <paramref name="driver"/>, a store started over keeps its driver and a new store gets the best driver
    /// that works at its root.
    /// </summary>
    public static StoreEngine Initialize(StoreOptions options, string? driver, bool force)
    {
        string root = FullPath(options.Root);
        if (driver is not null) DriverRegistry.EnsureSupported(driver, root);
        Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using FileLock storeLock = AcquireLock(root, options.LockTimeout);

        StoreConfig? existing = MetadataFile.Read<StoreConfig>(Path.Combine(root, ConfigFile));
        if (existing is not null && !force)
        {
            if (driver is not null && driver != existing.Driver)
                throw new LayerToolsException(LayerError.StoreAlreadyInitialized,
                    $"Store '{root}' is already initialized with the {existing.Driver} driver. Use -Force to remove all its layers and re-initialize it with {driver}.", root);
            return new StoreEngine(options, root, existing);
        }
        if (existing is not null)
            new StoreEngine(options, root, existing).Wipe();

        // A store started over keeps its driver unless told otherwise. A new one gets the default, chosen under the
        // lock: one check per store, never racing another process's.
        string wanted = driver ?? existing?.Driver ?? DefaultDriver(root, options);
        var config = new StoreConfig { Driver = wanted, Created = DateTime.UtcNow };
        MetadataFile.Write(Path.Combine(root, ConfigFile), config);
        options.Verbose?.Invoke($"Initialized store '{root}' with the {wanted} driver.");
        return new StoreEngine(options, root, config);
    }

    /// <summary>
    /// The driver a new store at <paramref name="root"/> gets by default. Falling back to vfs is a warning, not
    /// verbose news: the driver stays for the store's life and vfs copies every layer in full, so this is the one
    /// moment the user can still put the store where overlay works.
    /// </summary>
    private static string DefaultDriver(string root, StoreOptions options)
    {
        string driver = DriverRegistry.DefaultFor(root, out string? whyNotOverlay);
        if (whyNotOverlay is not null)
            options.Warning?.Invoke($"Store '{root}' gets the vfs driver, which copies every layer in full, because the overlay driver cannot run there: {whyNotOverlay}");
        return driver;
    }

    public LayerStore Describe()
    {
        MountTable mounts = MountTable.Load(RunDirectory, Root);
        List<LayerRecord> layers = ReadLayers().Layers.Where(l => !l.Incomplete).ToList();
        return new LayerStore
        {
            Root = Root,
            RunRoot = RunDirectory,
            Driver = Driver.Name,
            BackingFilesystem = MountInfo.Containing(Root)?.FilesystemType ?? "unknown",
            LayerCount = layers.Count,
            MountedCount = layers.Count(l => mounts.Live(l.Id) is not null),
            Status = Driver.Status(),
        };
    }

    public IReadOnlyList<Layer> List()
    {
        MountTable mounts = MountTable.Load(RunDirectory, Root);
        return ReadLayers().Layers.Where(l => !l.Incomplete).Select(l => ToLayer(l, mounts)).ToList();
    }

    /// <summary>Finds one layer by id, name or unique id prefix.</summary>
    public Layer Get(string nameOrId)
    {
        LayerRecord record = Resolve(ReadLayers(), nameOrId);
        return ToLayer(record, MountTable.Load(RunDirectory, Root));
    }

    /// <summary>The layers whose parent is this one.</summary>
    public IReadOnlyList<Layer> Children(string id)
    {
        MountTable mounts = MountTable.Load(RunDirectory, Root);
        return ReadLayers().Layers.Where(l => !l.Incomplete && l.Parent == id).Select(l => ToLayer(l, mounts)).ToList();
    }

    /// <summary>Creates a layer; with <paramref name="archive"/>, applies that layer tarball to it before it counts as made.</summary>
    public Layer Create(LayerSpec spec, Stream? archive = null) => Write(session =>
    {
        string id = spec.Id ?? NewId();
        if (!IsId(id))
            throw new LayerToolsException(LayerError.InvalidLayerId, $"'{id}' is not a layer id: an id is 64 lowercase hexadecimal characters.", id);
        if (session.Layers.Layers.Any(l => l.Id == id))
            throw new LayerToolsException(LayerError.LayerIdInUse, $"A layer with id {id} already exists in store '{Root}'.", id);
        LayerRecord? parent = spec.Parent is null ? null : Resolve(session.Layers, spec.Parent);
        foreach (string name in spec.Names.Distinct()) CheckNameFree(session.Layers, name, id);

        var record = new LayerRecord
        {
            Id = id,
            Names = spec.Names.Distinct().ToList(),
            Parent = parent?.Id,
            Created = DateTime.UtcNow,
            Metadata = spec.Metadata,
            ReadOnly = spec.ReadOnly,
            Incomplete = true,
            Untouched = true,
        };
        // Recorded before the driver touches the disk, so a crash leaves a record the next writer cleans up.
        session.Layers.Layers.Add(record);
        session.SaveLayers();
        try
        {
            Driver.Create(id, parent?.Id, _options.Progress);
            if (archive is not null) ApplyDiff(session, record, archive, path: null);
        }
        catch
        {
            Driver.Remove(id);
            DeleteExactRecord(id);
            session.Layers.Layers.Remove(record);
            session.SaveLayers();
            throw;
        }
        record.Incomplete = false;
        session.SaveLayers();
        _options.Verbose?.Invoke($"Created layer {id}{(parent is null ? "" : $" on {parent.Id}")}.");
        return ToLayer(record, session.Mounts);
    });

    public Layer Update(string nameOrId, IEnumerable<string> addNames, IEnumerable<string> removeNames, string? metadata) => Write(session =>
    {
        LayerRecord record = Resolve(session.Layers, nameOrId);
        foreach (string name in addNames)
        {
            if (record.Names.Contains(name)) continue;
            CheckNameFree(session.Layers, name, record.Id);
            record.Names.Add(name);
        }
        foreach (string name in removeNames) record.Names.Remove(name);
        if (metadata is not null) record.Metadata = metadata;
        session.SaveLayers();
        return ToLayer(record, session.Mounts);
    });

    /// <summary>
    /// Removes a layer, and with <paramref name="recurse"/> its descendants first. A mounted layer is
    /// refused unless <paramref name="force"/>, which unmounts it. Returns the ids removed, in order.
    /// </summary>
    public IReadOnlyList<string> Remove(string nameOrId, bool force, bool recurse) => Write(session =>
    {
        LayerRecord target = Resolve(session.Layers, nameOrId);
        List<LayerRecord> children = session.Layers.Layers.Where(l => l.Parent == target.Id).ToList();
        if (children.Count > 0 && !recurse)
            throw new LayerToolsException(LayerError.LayerHasChildren,
                $"Layer '{Display(target)}' has {children.Count} {(children.Count == 1 ? "child" : "children")} ({string.Join(", ", children.Select(Display))}); remove {(children.Count == 1 ? "it" : "them")} first or use -Recurse.",
                target.Id);

        List<LayerRecord> doomed = DescendantsDeepestFirst(session.Layers, target);
        doomed.Add(target);
        if (!force)
        {
            LayerRecord? mounted = doomed.FirstOrDefault(l => session.Mounts.Live(l.Id) is not null);
            if (mounted is not null)
            {
                MountEntry entry = session.Mounts.Live(mounted.Id)!;
                throw new LayerToolsException(LayerError.LayerMounted,
                    $"Layer '{Display(mounted)}' is mounted at {entry.Path} ({Users(entry.Count)}); dismount it or use -Force.", mounted.Id);
            }
        }
        foreach (LayerRecord layer in doomed)
        {
            if (session.Mounts.Entries.ContainsKey(layer.Id))
            {
                UnmountNow(layer.Id, session.Mounts.Entries[layer.Id].Path, lazyIfBusy: true);
                session.Mounts.Entries.Remove(layer.Id);
                session.Mounts.Save();
            }
            layer.Incomplete = true;
            session.SaveLayers();
            Driver.Remove(layer.Id);
            DeleteExactRecord(layer.Id);
            session.Layers.Layers.Remove(layer);
            session.SaveLayers();
            _options.Verbose?.Invoke($"Removed layer {layer.Id}.");
        }
        return doomed.Select(l => l.Id).ToList();
    });

    /// <summary>Mounts a layer, or counts one more user of its existing mount.</summary>
    public LayerMount Mount(string nameOrId, bool readOnly) => Write(session =>
    {
        LayerRecord record = Resolve(session.Layers, nameOrId);
        bool wantReadOnly = readOnly || record.ReadOnly;
        if (!session.Mounts.Entries.TryGetValue(record.Id, out MountEntry? entry))
        {
            if (!wantReadOnly) MarkTouched(session, record);
            WarnOfChangesUnderAMount(session, record, wantReadOnly);
            string path = Driver.Mount(record.Id, wantReadOnly);
            entry = new MountEntry { Path = path, ReadOnly = wantReadOnly };
            session.Mounts.Entries[record.Id] = entry;
            _options.Verbose?.Invoke($"Mounted layer {record.Id} at {path}{(wantReadOnly ? " (read-only)" : "")}.");
        }
        else if (entry.ReadOnly != wantReadOnly)
        {
            throw new LayerToolsException(LayerError.LayerMounted,
                $"Layer '{Display(record)}' is already mounted {(entry.ReadOnly ? "read-only" : "read-write")} at {entry.Path}; dismount it before mounting it {(wantReadOnly ? "read-only" : "read-write")}.",
                record.Id);
        }
        entry.Count++;
        session.Mounts.Save();
        return ToMount(record.Id, entry);
    });

    /// <summary>
    /// A mounted layer that shows <paramref name="record"/>'s files as one of its lower layers, on a driver
    /// where children share their ancestors' files; null if there is none.
    /// </summary>
    private LayerRecord? MountedDescendant(Session session, LayerRecord record) =>
        Driver.SharesAncestors
            ? DescendantsDeepestFirst(session.Layers, record).FirstOrDefault(l => session.Mounts.Live(l.Id) is not null)
            : null;

    /// <summary>
    /// Warns when a layer is about to be mounted read-write under a mounted descendant, or mounted over a
    /// read-write mounted ancestor: overlayfs leaves undefined what a mount shows of changes made to one
    /// of its lower layers meanwhile.
    /// </summary>
    private void WarnOfChangesUnderAMount(Session session, LayerRecord record, bool readOnly)
    {
        if (!Driver.SharesAncestors) return;
        (LayerRecord Lower, LayerRecord Upper)? pair = null;
        if (!readOnly && MountedDescendant(session, record) is { } descendant) pair = (record, descendant);
        for (LayerRecord? ancestor = ParentOf(session, record); pair is null && ancestor is not null; ancestor = ParentOf(session, ancestor))
        {
            if (session.Mounts.Live(ancestor.Id) is { ReadOnly: false }) pair = (ancestor, record);
        }
        if (pair is var (lower, upper))
            _options.Warning?.Invoke($"Layer '{Display(lower)}' is mounted read-write while '{Display(upper)}', which stacks it, is mounted as well: what '{Display(upper)}' shows of changes made in '{Display(lower)}' meanwhile is undefined until it is mounted again.");
    }

    /// <summary>Drops one user of a layer's mount (all of them with <paramref name="force"/>), unmounting at zero.</summary>
    public LayerMount Unmount(string nameOrId, bool force) => Write(session =>
        Unmount(session, Resolve(session.Layers, nameOrId), force));

    /// <summary>As <see cref="Unmount(string, bool)"/>, naming the mount by its path.</summary>
    public LayerMount UnmountPath(string path, bool force) => Write(session =>
    {
        string full = FullPath(path);
        string? id = session.Mounts.Entries.FirstOrDefault(e => e.Value.Path == full).Key;
        if (id is null)
            throw new LayerToolsException(LayerError.LayerNotMounted, $"No layer of store '{Root}' is mounted at '{full}'.", full);
        return Unmount(session, Resolve(session.Layers, id), force);
    });

    private LayerMount Unmount(Session session, LayerRecord record, bool force)
    {
        if (!session.Mounts.Entries.TryGetValue(record.Id, out MountEntry? entry))
            throw new LayerToolsException(LayerError.LayerNotMounted, $"Layer '{Display(record)}' is not mounted.", record.Id);
        if (entry.Count == 1 || force)
        {
            UnmountNow(record.Id, entry.Path, lazyIfBusy: force);
            session.Mounts.Entries.Remove(record.Id);
            entry.Count = 0;
            _options.Verbose?.Invoke($"Unmounted layer {record.Id} from {entry.Path}.");
        }
        else
        {
            entry.Count--;
            _options.Verbose?.Invoke($"Layer {record.Id} stays mounted at {entry.Path} ({Users(entry.Count)}).");
        }
        session.Mounts.Save();
        return ToMount(record.Id, entry);
    }

    private void UnmountNow(string id, string path, bool lazyIfBusy)
    {
        try
        {
            Driver.Unmount(id, lazy: false);
        }
        catch (NativeException e) when (e.Errno == Errno.EBUSY)
        {
            if (!lazyIfBusy)
                throw new LayerToolsException(LayerError.LayerMounted,
                    $"The mount of layer {id} at {path} is busy (files are open or a process works in it); close them, or use -Force to detach it lazily.", id, e);
            Driver.Unmount(id, lazy: true);
            _options.Warning?.Invoke($"The mount at {path} was busy; it was detached lazily and goes away when its last user leaves.");
        }
    }

    /// <summary>Unmounts everything and removes every layer; used when a store is re-initialized.</summary>
    private void Wipe()
    {
        // Every record is marked first, so a crash halfway leaves layers the next writer removes, never half-removed ones that look whole.
        LayerList layers = ReadLayers();
        foreach (LayerRecord layer in layers.Layers) layer.Incomplete = true;
        MetadataFile.Write(Path.Combine(Root, LayersFile), layers);
        Driver.Cleanup();
        MountTable mounts = MountTable.Load(RunDirectory, Root);
        mounts.Entries.Clear();
        mounts.Save();
        foreach (LayerRecord layer in layers.Layers) Driver.Remove(layer.Id);
        MetadataFile.Write(Path.Combine(Root, LayersFile), new LayerList());
        TreeRemoval.Remove(Path.Combine(Root, Driver.Name));
    }

    private T Write<T>(Func<Session, T> work)
    {
        using FileLock storeLock = AcquireLock(Root, _options.LockTimeout);
        // Only lock holders write metadata, so a temporary file seen now was left by a writer that died.
        MetadataFile.RemoveAbandoned(Root);
        MetadataFile.RemoveAbandoned(RunDirectory);
        var session = new Session(this, ReadLayers(), MountTable.Load(RunDirectory, Root));
        RepairMounts(session);
        RemoveIncomplete(session);
        return work(session);
    }

    private void RepairMounts(Session session)
    {
        IReadOnlyList<string> vanished = session.Mounts.DropVanished();
        foreach (string id in vanished)
            _options.Warning?.Invoke($"The mount of layer {id} was removed outside LayerTools; its mount count was reset to 0.");
        if (vanished.Count > 0) session.Mounts.Save();
        DetachUncounted(session);
    }

    /// <summary>
    /// Detaches layer mounts the mount table does not count: left by a process that died between
    /// mounting and recording (a crash in the middle of Mount-Layer or of an export's own mount), or
    /// kept after the run directory was emptied. No one can dismount them through the store, and a
    /// stale read-write mount would keep writing a layer the store believes is at rest.
    /// </summary>
    private void DetachUncounted(Session session)
    {
        foreach (LayerRecord layer in session.Layers.Layers)
        {
            if (session.Mounts.Entries.ContainsKey(layer.Id)) continue;
            string path = Driver.MountPath(layer.Id);
            if (!Mounts.IsMountPoint(path)) continue;
            // Lazily, as it may be in use; one detach per mount stacked there.
            while (Mounts.IsMountPoint(path)) Driver.Unmount(layer.Id, lazy: true);
            _options.Warning?.Invoke($"Layer {layer.Id} was mounted at {path} with no record of who mounted it (a process ended before recording it); the mount was detached.");
        }
    }

    private void RemoveIncomplete(Session session)
    {
        List<LayerRecord> incomplete = session.Layers.Layers.Where(l => l.Incomplete).ToList();
        if (incomplete.Count == 0) return;
        foreach (LayerRecord layer in incomplete)
        {
            _options.Warning?.Invoke($"Removing layer {layer.Id}: an earlier operation on it was interrupted and left it incomplete.");
            if (session.Mounts.Entries.Remove(layer.Id)) Driver.Unmount(layer.Id, lazy: true);
            Driver.Remove(layer.Id);
            DeleteExactRecord(layer.Id);
            session.Layers.Layers.Remove(layer);
        }
        session.Mounts.Save();
        session.SaveLayers();
    }

    private LayerList ReadLayers() => MetadataFile.Read<LayerList>(Path.Combine(Root, LayersFile)) ?? new LayerList();

    private static FileLock AcquireLock(string root, TimeSpan timeout) =>
        FileLock.TryAcquire(Path.Combine(root, LockFile), timeout)
        ?? throw new LayerToolsException(LayerError.StoreLocked,
            $"Store '{root}' is locked by another process and stayed locked for {timeout.TotalSeconds:0} s; try again when it has finished.", root);

    private LayerRecord Resolve(LayerList layers, string nameOrId)
    {
        List<LayerRecord> live = layers.Layers.Where(l => !l.Incomplete).ToList();
        LayerRecord? exact = live.FirstOrDefault(l => l.Id == nameOrId) ?? live.FirstOrDefault(l => l.Names.Contains(nameOrId));
        if (exact is not null) return exact;
        if (nameOrId.Length > 0 && nameOrId.All(Uri.IsHexDigit))
        {
            List<LayerRecord> matches = live.Where(l => l.Id.StartsWith(nameOrId, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count == 1) return matches[0];
            if (matches.Count > 1)
                throw new LayerToolsException(LayerError.LayerIdAmbiguous,
                    $"'{nameOrId}' is the start of {matches.Count} layer ids ({string.Join(", ", matches.Take(3).Select(m => m.Id[..12]))}{(matches.Count > 3 ? ", ..." : "")}); give more characters.", nameOrId);
        }
        throw new LayerToolsException(LayerError.LayerNotFound,
            $"Layer '{nameOrId}' was not found in store '{Root}'. Get-Layer -Root {Root} lists its layers.", nameOrId);
    }

    private static void CheckNameFree(LayerList layers, string name, string forId)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c is '*' or '?' or '[' or ']' or '/'))
            throw new LayerToolsException(LayerError.InvalidLayerName,
                $"'{name}' is not a valid layer name: names are not empty and have no spaces, control characters, '/' or wildcard characters (* ? [ ]).", name);
        if (IsId(name) && name != forId)
            throw new LayerToolsException(LayerError.InvalidLayerName,
                $"'{name}' looks like a layer id (64 hex characters) and cannot be used as a name.", name);
        LayerRecord? holder = layers.Layers.FirstOrDefault(l => l.Id != forId && (l.Names.Contains(name) || l.Id == name));
        if (holder is not null)
            throw new LayerToolsException(LayerError.LayerNameInUse,
                $"The name '{name}' is already used by layer {holder.Id}; remove it there first (Set-Layer -RemoveName) or pick another.", name);
    }

    private static List<LayerRecord> DescendantsDeepestFirst(LayerList layers, LayerRecord root)
    {
        var order = new List<LayerRecord>();
        var pending = new Stack<LayerRecord>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            LayerRecord layer = pending.Pop();
            foreach (LayerRecord child in layers.Layers.Where(l => l.Parent == layer.Id))
            {
                order.Add(child);
                pending.Push(child);
            }
        }
        // Each child was added after its parent; reversed, every layer comes before its parent.
        order.Reverse();
        return order;
    }

    private Layer ToLayer(LayerRecord record, MountTable mounts)
    {
        MountEntry? mount = mounts.Live(record.Id);
        return new Layer
        {
            Id = record.Id,
            Names = record.Names.ToArray(),
            Parent = record.Parent,
            Created = DateTime.SpecifyKind(record.Created, DateTimeKind.Utc),
            Driver = Driver.Name,
            ReadOnly = record.ReadOnly,
            MountCount = mount?.Count ?? 0,
            MountPoint = mount?.Path,
            CompressedDigest = record.CompressedDigest,
            CompressedSize = record.CompressedSize,
            UncompressedDigest = record.UncompressedDigest,
            UncompressedSize = record.UncompressedSize,
            Metadata = record.Metadata,
            Compression = record.Compression,
            Uids = record.Uids ?? [],
            Gids = record.Gids ?? [],
            Problem = record.Problem,
            Root = Root,
        };
    }

    private LayerMount ToMount(string id, MountEntry entry) => new()
    {
        LayerId = id,
        Path = entry.Path,
        MountCount = entry.Count,
        ReadOnly = entry.ReadOnly,
        Root = Root,
    };

    private static string Display(LayerRecord record) => record.Names.Count > 0 ? record.Names[0] : record.Id[..12];

    private static string Users(int count) => count == 1 ? "1 user" : $"{count} users";

    public static bool IsId(string text) => text.Length == 64 && text.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    private static string NewId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();

    /// <summary>The absolute form of a path, without a trailing slash, so every spelling of a store names one store.</summary>
    private static string FullPath(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    /// <summary>
    /// The root of the store that has a layer mounted at <paramref name="mountPath"/>, found through the
    /// run directories under <paramref name="runRoot"/>; null when no store knows that mount.
    /// </summary>
    public static string? FindStoreOfMount(string mountPath, string runRoot)
    {
        string full = FullPath(mountPath);
        if (!Directory.Exists(runRoot)) return null;
        foreach (string runDirectory in Directory.EnumerateDirectories(runRoot))
        {
            MountTable table = MountTable.Load(runDirectory, root: null);
            if (table.Root is not null && table.Entries.Values.Any(e => e.Path == full)) return table.Root;
        }
        return null;
    }

    /// <summary>Each store has its own run directory, named after its root so two stores never share counts.</summary>
    private static string RunDirectoryOf(string root, string runRoot) =>
        Path.Combine(Path.GetFullPath(runRoot), Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(root)))[..16].ToLowerInvariant());

    /// <summary>The metadata one locked operation works on.</summary>
    private sealed class Session(StoreEngine store, LayerList layers, MountTable mounts)
    {
        public LayerList Layers { get; } = layers;
        public MountTable Mounts { get; } = mounts;

        public void SaveLayers() => MetadataFile.Write(Path.Combine(store.Root, LayersFile), Layers);
    }
}
