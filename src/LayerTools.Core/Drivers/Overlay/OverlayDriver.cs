using System.Security.Cryptography;
using LayerTools.Archive;
using LayerTools.Native;

namespace LayerTools.Drivers.Overlay;

/// <summary>
/// Layers as overlayfs directories, laid out like Docker's overlay2: home/ID/diff holds the layer's own
/// changes, home/ID/lower names its ancestors (nearest first) by short links home/l/NAME → ../ID/diff,
/// and a mount stacks those diffs at home/ID/merged. Making a layer copies nothing, whatever its
/// parent holds. Every mount is an overlay, a base layer's too (over an empty lower directory), so
/// overlayfs' own attributes and escaping apply the same way in every layer.
/// </summary>
public sealed class OverlayDriver : ILayerDriver, INativeChanges, INativeApply
{
    /// <summary>overlayfs stacks at most 500 lower layers (OVL_MAX_STACK); a read-only mount lists the layer itself too.</summary>
    public const int MaxAncestors = 499;

    private const string LinkDirectory = "l";
    private const string EmptyDirectory = "empty";
    private const string ShortNameCharacters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    private const int ShortNameLength = 26;
    private const string OverlayAttributePrefix = "trusted.overlay.";
    private const string EscapedAttributePrefix = "trusted.overlay.overlay.";

    private readonly string _home;

    public OverlayDriver(string home)
    {
        _home = Path.GetFullPath(home);
        Directory.CreateDirectory(Path.Combine(_home, LinkDirectory));
        Directory.CreateDirectory(Path.Combine(_home, EmptyDirectory));
    }

    public string Name => "overlay";

    public bool SharesAncestors => true;

    /// <summary>Null if overlay layers work under <paramref name="home"/>, else the reason they do not.</summary>
    public static string? CheckSupported(string home) => OverlaySupport.Check(home);

    public void Create(string id, string? parentId, Action<WorkProgress>? progress)
    {
        string layer = LayerDirectory(id);
        string[] lowers = [];
        if (parentId is not null)
        {
            if (!Exists(parentId))
                throw new DirectoryNotFoundException($"The parent layer {parentId} has no overlay directory under '{_home}'.");
            string[] parentLowers = ReadLowers(parentId);
            if (parentLowers.Length + 1 > MaxAncestors)
                throw new ArgumentException(
                    $"Layer {parentId} already has {parentLowers.Length} ancestors; overlayfs stacks at most {MaxAncestors + 1} layers in one mount, so a child of it could not be mounted. Start a new chain (a layer made from an exported tarball) instead.");
            lowers = [LinkDirectory + "/" + ReadShortName(parentId), .. parentLowers];
        }

        Fs.Mkdir(layer, 0x1ED /* 0755 */);
        string diff = OwnFilesDirectory(id);
        Fs.Mkdir(diff, 0x1ED /* 0755 */);
        // The top of a merged view is the upper directory's root, so a child's diff starts as its parent's root looked.
        if (parentId is not null) CopyRootAttributes(OwnFilesDirectory(parentId), diff);
        Fs.Mkdir(Path.Combine(layer, "work"), 0x1C0 /* 0700 */);
        Fs.Mkdir(Path.Combine(layer, "merged"), 0x1ED /* 0755 */);
        File.WriteAllText(Path.Combine(layer, "lower"), string.Join(':', lowers));
        MakeShortLink(id);
    }

    public void Remove(string id)
    {
        string layer = LayerDirectory(id);
        DetachAll(MountPath(id));
        // The link file is written before the short link is made, so no short link outlives the file.
        if (TryReadShortName(id) is { } shortName)
        {
            string link = Path.Combine(_home, LinkDirectory, shortName);
            // A crash while drawing a name that was taken may have left another layer's name in the file.
            if (Fs.TryLstat(link, out FileStatus status) && status.Kind == FileKind.Symlink && Fs.ReadLink(link) == $"../{id}/diff")
                Fs.Unlink(link);
        }
        // TreeRemoval opens up the 000-mode work/work directory overlayfs leaves behind.
        TreeRemoval.Remove(layer);
    }

    public bool Exists(string id) => Directory.Exists(LayerDirectory(id));

    public string Mount(string id, bool readOnly)
    {
        if (!Exists(id))
            throw new DirectoryNotFoundException($"Layer {id} has no overlay directory under '{_home}'.");
        string layer = LayerDirectory(id);
        var lowers = new List<string>();
        // Without an upper directory the layer's own diff is the top lower layer.
        if (readOnly) lowers.Add(Path.Combine(_home, LinkDirectory, ReadShortName(id)));
        lowers.AddRange(ReadLowers(id).Select(l => Path.Combine(_home, l)));
        // A base layer has no ancestors; an empty directory stands in, as overlayfs needs one lower layer, or two without an upper.
        if (lowers.Count < (readOnly ? 2 : 1)) lowers.Add(Path.Combine(_home, EmptyDirectory));
        var mount = readOnly
            ? new OverlayMount(lowers, null, null)
            : new OverlayMount(lowers, OwnFilesDirectory(id), Path.Combine(layer, "work"));
        string merged = MountPath(id);
        mount.MountAt(merged, readOnly);
        return merged;
    }

    public void Unmount(string id, bool lazy)
    {
        string merged = MountPath(id);
        if (Mounts.IsMountPoint(merged)) Mounts.Unmount(merged, lazy);
    }

    public string MountPath(string id) => Path.Combine(LayerDirectory(id), "merged");

    public string OwnFilesDirectory(string id) => Path.Combine(LayerDirectory(id), "diff");

    // A diff directory holds whiteouts and overlayfs' own attributes; only a mount shows the tree.
    public string? PlainTree(string id) => null;

    /// <summary>Read from the layer's diff and its ancestors' diffs directly: no mount is needed.</summary>
    public IEnumerable<LayerChange> ChangesFromParent(string id)
    {
        if (!Exists(id))
            throw new DirectoryNotFoundException($"Layer {id} has no overlay directory under '{_home}'.");
        return OverlayChanges.Enumerate(OwnFilesDirectory(id), ReadLowers(id).Select(LowerDiff).ToList());
    }

    /// <summary>
    /// The layer's diff, written as overlayfs would write it through a mount: whiteouts and opaque
    /// directories in its own form, so the layer mounts as the changeset describes.
    /// </summary>
    public (string Directory, IUnionLayers Union) ApplyTarget(string id)
    {
        if (!Exists(id))
            throw new DirectoryNotFoundException($"Layer {id} has no overlay directory under '{_home}'.");
        string diff = OwnFilesDirectory(id);
        return (diff, new OverlayUnion(diff, ReadLowers(id).Select(LowerDiff).ToList()));
    }

    /// <summary>The diff directory a short link (as in a lower file) points at: the changes compare real directories, not links.</summary>
    private string LowerDiff(string shortLink)
    {
        string link = Path.Combine(_home, shortLink);
        return Path.GetFullPath(Fs.ReadLink(link), Path.GetDirectoryName(link)!);
    }

    public IReadOnlyDictionary<string, string> Status()
    {
        bool lowerdirPlus = MountApi.AcceptsSetting("overlay", "lowerdir+", Path.Combine(_home, EmptyDirectory));
        return new Dictionary<string, string>
        {
            ["Backing Filesystem"] = MountInfo.Containing(_home)?.FilesystemType ?? "unknown",
            ["Supports d_type"] = DirectoryEntryTypes.AreReported(_home) ? "true" : "false",
            ["Native Overlay Diff"] = "true",
            ["Using metacopy"] = "false",
            ["Mount Options"] = string.Join(',', OverlayMount.FixedOptions.Select(o => $"{o.Key}={o.Value}")),
            ["Long Chains"] = lowerdirPlus
                ? $"new mount API (fsopen, one lowerdir+ per layer) when the options exceed {MountApi.OptionPageSize} bytes"
                : $"mount(2) only: this kernel has no lowerdir+ (Linux 6.8), so chains whose options exceed {MountApi.OptionPageSize} bytes cannot be mounted",
            ["Layers"] = _home,
        };
    }

    public void Cleanup()
    {
        foreach (string directory in Directory.EnumerateDirectories(_home))
            DetachAll(Path.Combine(directory, "merged"));
    }

    /// <summary>Detaches every mount stacked on <paramref name="merged"/>; each detach uncovers the one below, until none is left.</summary>
    private static void DetachAll(string merged)
    {
        while (Mounts.IsMountPoint(merged)) Mounts.Unmount(merged, lazy: true);
    }

    private string LayerDirectory(string id) => Path.Combine(_home, id);

    /// <summary>The short links of the layer's ancestors, nearest first, relative to home ("l/NAME").</summary>
    private string[] ReadLowers(string id) =>
        File.ReadAllText(Path.Combine(LayerDirectory(id), "lower")).Split(':', StringSplitOptions.RemoveEmptyEntries);

    private string ReadShortName(string id) =>
        TryReadShortName(id) ?? throw new InvalidDataException($"Layer {id} has no valid short name in '{Path.Combine(LayerDirectory(id), "link")}'.");

    private string? TryReadShortName(string id)
    {
        string file = Path.Combine(LayerDirectory(id), "link");
        if (!File.Exists(file)) return null;
        string name = File.ReadAllText(file).Trim();
        // Checked before use: the name becomes a path that Remove unlinks.
        return name.Length == ShortNameLength && name.All(c => ShortNameCharacters.Contains(c)) ? name : null;
    }

    private void MakeShortLink(string id)
    {
        string linkFile = Path.Combine(LayerDirectory(id), "link");
        while (true)
        {
            string name = RandomNumberGenerator.GetString(ShortNameCharacters, ShortNameLength);
            File.WriteAllText(linkFile, name);
            try
            {
                Fs.Symlink($"../{id}/diff", Path.Combine(_home, LinkDirectory, name));
                return;
            }
            catch (NativeException e) when (e.Errno == Errno.EEXIST)
            {
                // Another layer drew the same name; draw again.
            }
        }
    }

    /// <summary>
    /// Owner, mode, extended attributes and times of one layer root onto another. Attributes overlayfs
    /// keeps for itself stay behind; escaped ones (a layer's own trusted.overlay.* data) come along.
    /// </summary>
    private static void CopyRootAttributes(string source, string target)
    {
        FileStatus status = Fs.Lstat(source);
        Fs.Lchown(target, status.Uid, status.Gid);
        // After the owner: chown clears setuid and setgid.
        Fs.Chmod(target, status.Permissions);
        foreach (var (name, value) in Xattrs.Read(source))
        {
            if (name.StartsWith(OverlayAttributePrefix, StringComparison.Ordinal) && !name.StartsWith(EscapedAttributePrefix, StringComparison.Ordinal))
                continue;
            Xattrs.Set(target, name, value);
        }
        Fs.SetTimes(target, status.Atime, status.Mtime);
    }
}
