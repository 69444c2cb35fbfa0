using LayerTools.Native;

namespace LayerTools.Drivers;

/// <summary>
/// Removes a layer tree that may hold anything a root file system holds: read-only directories,
/// device nodes, immutable-looking modes. Never crosses into a mount inside the tree.
/// </summary>
public static class TreeRemoval
{
    public static void Remove(string root)
    {
        if (!Fs.TryLstat(root, out FileStatus rootStatus)) return;
        if (rootStatus.Kind != FileKind.Directory)
        {
            Fs.Unlink(root);
            return;
        }
        // Post-order over an explicit stack: deep trees must not overflow the call stack.
        var pending = new Stack<(string Path, bool Expanded)>();
        pending.Push((root, false));
        while (pending.Count > 0)
        {
            var (path, expanded) = pending.Pop();
            if (expanded)
            {
                Fs.Rmdir(path);
                continue;
            }
            FileStatus status = Fs.Lstat(path);
            if (status.IsMountRoot && path != root)
                throw new IOException($"'{path}' is a mount point inside a layer tree; unmount it before removing the layer.");
            // Root may remove entries of a 0555 directory, but rmdir of its children needs write+exec on it.
            if ((status.Permissions & 0x1C0) != 0x1C0) Fs.Chmod(path, status.Permissions | 0x1C0);
            pending.Push((path, true));
            foreach (string name in DirectoryListing.Names(path))
            {
                string child = Path.Join(path, name);
                if (Fs.Lstat(child).Kind == FileKind.Directory) pending.Push((child, false));
                else Fs.Unlink(child);
            }
        }
    }
}
