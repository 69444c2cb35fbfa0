namespace LayerTools.Native;

public enum FileKind { Regular, Directory, Symlink, Fifo, Socket, CharDevice, BlockDevice }

/// <summary>A point in time as the kernel stores it on an inode: seconds and nanoseconds.</summary>
public readonly record struct Timestamp(long Seconds, uint Nanoseconds)
{
    public DateTime ToDateTime() =>
        DateTime.UnixEpoch.AddTicks(Seconds * TimeSpan.TicksPerSecond + Nanoseconds / 100);

    public override string ToString() => $"{Seconds}.{Nanoseconds:D9}";
}

/// <summary>What statx reports for one path, without following a final symlink.</summary>
public readonly record struct FileStatus(
    FileKind Kind,
    uint Permissions,
    uint Uid,
    uint Gid,
    long Size,
    long Blocks,
    uint LinkCount,
    ulong Inode,
    ulong Device,
    uint RdevMajor,
    uint RdevMinor,
    Timestamp Atime,
    Timestamp Mtime,
    bool IsMountRoot)
{
    /// <summary>The permission bits, setuid, setgid and sticky included (mode &amp; 07777).</summary>
    public const uint PermissionMask = 0xFFF;

    /// <summary>What statx filled in; the mount-root attribute counts only where the kernel says it knows it.</summary>
    internal static FileStatus From(in Tmds.Linux.statx sx) => new(
        KindOf(sx.stx_mode),
        sx.stx_mode & PermissionMask,
        sx.stx_uid,
        sx.stx_gid,
        (long)sx.stx_size,
        (long)sx.stx_blocks,
        sx.stx_nlink,
        sx.stx_ino,
        ((ulong)sx.stx_dev_major << 32) | sx.stx_dev_minor,
        sx.stx_rdev_major,
        sx.stx_rdev_minor,
        new Timestamp(sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec),
        new Timestamp(sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec),
        (sx.stx_attributes_mask & StatxAttrMountRoot) != 0 && (sx.stx_attributes & StatxAttrMountRoot) != 0);

    private const ulong StatxAttrMountRoot = 0x2000;

    internal static FileKind KindOf(uint mode) => (mode & 0xF000) switch
    {
        0x8000 => FileKind.Regular,
        0x4000 => FileKind.Directory,
        0xA000 => FileKind.Symlink,
        0x1000 => FileKind.Fifo,
        0xC000 => FileKind.Socket,
        0x2000 => FileKind.CharDevice,
        0x6000 => FileKind.BlockDevice,
        _ => throw new InvalidDataException($"unknown file type in mode {mode:o}"),
    };

    internal static uint TypeBits(FileKind kind) => kind switch
    {
        FileKind.Regular => 0x8000,
        FileKind.Directory => 0x4000,
        FileKind.Symlink => 0xA000,
        FileKind.Fifo => 0x1000,
        FileKind.Socket => 0xC000,
        FileKind.CharDevice => 0x2000,
        FileKind.BlockDevice => 0x6000,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
