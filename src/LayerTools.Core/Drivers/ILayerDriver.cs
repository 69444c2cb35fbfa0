namespace LayerTools.Drivers;

/// <summary>
/// How a storage driver keeps layer trees. The store owns records, locking and mount counts; a driver
/// only makes, mounts and removes trees, each identified by layer id, under its own home directory.
/// </summary>
public interface ILayerDriver
{
    string Name { get; }

    /// <summary>Whether a layer's mount shows its ancestors' own files, so changing an ancestor changes it too (overlay), rather than a copy (vfs).</summary>
    bool SharesAncestors { get; }

    /// <summary>Makes the tree of a new layer: empty, or a view of <paramref name="parentId"/>'s tree to change.</summary>
    void Create(string id, string? parentId, Action<WorkProgress>? progress);

    /// <summary>Removes the layer's tree and everything the driver keeps for it; a missing tree is not an error.</summary>
    void Remove(string id);

    bool Exists(string id);

    /// <summary>Makes the tree visible at <see cref="MountPath"/> and returns that path.</summary>
    string Mount(string id, bool readOnly);

    /// <summary>Takes the mount down; <paramref name="lazy"/> detaches a busy mount instead of failing.</summary>
    void Unmount(string id, bool lazy);

    string MountPath(string id);

    /// <summary>
    /// Where every regular file the layer itself wrote lies whole, readable without a mount: its tree
    /// (vfs), or its upper directory (overlay, which copies up whole files). Replaying the tarball the
    /// layer was made from needs nothing more, so an exact export mounts nothing.
    /// </summary>
    string OwnFilesDirectory(string id);

    /// <summary>The layer's whole tree as a plain directory, if the driver keeps one (vfs), so reading it needs no mount; else null.</summary>
    string? PlainTree(string id);

    /// <summary>Key/value facts for Get-LayerStore (backing file system, feature support, ...).</summary>
    IReadOnlyDictionary<string, string> Status();

    /// <summary>Unmounts everything the driver has mounted under its home.</summary>
    void Cleanup();
}

/// <summary>
/// A driver that can list a layer's changes against its parent from what it stores, without walking
/// both trees, so the cost follows the size of the change rather than of the layer.
/// </summary>
public interface INativeChanges
{
    /// <summary>
    /// Exactly what <see cref="Changes.TreeComparer"/> reports between the parent's tree (none for a base
    /// layer) and the layer's, in <see cref="Changes.LayerPathComparer"/> order, read while enumerating.
    /// </summary>
    IEnumerable<LayerChange> ChangesFromParent(string id);
}

/// <summary>
/// A driver that can apply a changeset straight into what it stores for a layer, with no mount, as the
/// upper directory of a union over the layer's ancestors.
/// </summary>
public interface INativeApply
{
    /// <summary>The directory to apply a changeset for the layer into, and the layers beneath it.</summary>
    (string Directory, Archive.IUnionLayers Union) ApplyTarget(string id);
}
