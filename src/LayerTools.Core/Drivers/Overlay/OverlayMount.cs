using System.Text;
using LayerTools.Native;

namespace LayerTools.Drivers.Overlay;

/// <summary>
/// One overlayfs mount: its lower directories (the nearest layer first) and, for a writable mount, an
/// upper and a work directory. It goes through classic mount(2) when the option string fits one page,
/// and through the new mount API, one "lowerdir+" per layer, when a long chain makes it longer.
/// </summary>
public sealed class OverlayMount
{
    /// <summary>
    /// Set on every mount rather than left to the kernel's build-time defaults: no inode index (so a
    /// layer's diff may be a lower layer of one mount while it is the upper layer of another), and no
    /// redirects or metadata-only copy-ups, so a diff directory holds whole files, whiteouts and opaque
    /// directories only: a plain changeset in the overlay format.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> FixedOptions { get; } =
    [
        new("index", "off"),
        new("redirect_dir", "off"),
        new("metacopy", "off"),
    ];

    public OverlayMount(IReadOnlyList<string> lowerDirectories, string? upperDirectory, string? workDirectory)
    {
        if (lowerDirectories.Count == 0 || (upperDirectory is null && lowerDirectories.Count < 2))
            throw new ArgumentException("an overlay mount needs a lower directory, and two of them when it has no upper directory", nameof(lowerDirectories));
        if ((upperDirectory is null) != (workDirectory is null))
            throw new ArgumentException("an overlay upper directory needs a work directory and the other way round", nameof(workDirectory));
        LowerDirectories = lowerDirectories;
        UpperDirectory = upperDirectory;
        WorkDirectory = workDirectory;
    }

    public IReadOnlyList<string> LowerDirectories { get; }
    public string? UpperDirectory { get; }
    public string? WorkDirectory { get; }

    /// <summary>The option string for mount(2), each path escaped as overlayfs' option parser wants it.</summary>
    public string Options
    {
        get
        {
            var options = new StringBuilder("lowerdir=");
            options.AppendJoin(':', LowerDirectories.Select(EscapeForOptionString));
            if (UpperDirectory is not null)
                options.Append(",upperdir=").Append(EscapeForOptionString(UpperDirectory))
                    .Append(",workdir=").Append(EscapeForOptionString(WorkDirectory!));
            foreach (var (key, value) in FixedOptions) options.Append(',').Append(key).Append('=').Append(value);
            return options.ToString();
        }
    }

    /// <summary>True if mount(2) can take <see cref="Options"/>: the kernel copies one page of it, NUL included.</summary>
    public bool FitsOnePage => Encoding.UTF8.GetByteCount(Options) + 1 <= MountApi.OptionPageSize;

    /// <summary>Mounts the overlay at <paramref name="target"/> with private propagation.</summary>
    public void MountAt(string target, bool readOnly)
    {
        if (!FitsOnePage)
            MountApi.MountWithSettings("overlay", "overlay", Settings(), target, readOnly);
        else
            MountApi.Mount("overlay", "overlay", target, Options, readOnly);
        try
        {
            MountApi.MakePrivate(target);
        }
        catch
        {
            Mounts.Unmount(target, lazy: true);
            throw;
        }
    }

    /// <summary>The settings for the new mount API. "lowerdir+" takes a path as it is; upperdir and workdir are unescaped by the kernel.</summary>
    private IEnumerable<KeyValuePair<string, string>> Settings()
    {
        foreach (string lower in LowerDirectories)
        {
            if (Encoding.UTF8.GetByteCount(lower) > MountApi.MaxSettingValueBytes)
                throw new PathTooLongException($"The overlay lower directory '{lower}' is longer than the {MountApi.MaxSettingValueBytes} bytes the new mount API takes for one path; move the store to a shorter path.");
            yield return new("lowerdir+", lower);
        }
        if (UpperDirectory is not null)
        {
            yield return new("upperdir", UpperDirectory.Replace(@"\", @"\\"));
            yield return new("workdir", WorkDirectory!.Replace(@"\", @"\\"));
        }
        foreach (KeyValuePair<string, string> option in FixedOptions) yield return option;
    }

    /// <summary>In mount(2) options a comma ends an option and a colon separates lower directories; a backslash escapes either.</summary>
    private static string EscapeForOptionString(string path) =>
        path.Replace(@"\", @"\\").Replace(",", @"\,").Replace(":", @"\:");
}
