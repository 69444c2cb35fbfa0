namespace LayerTools.Archive;

/// <summary>The kinds of file a layer archive carries. Sockets are not among them: tar cannot store one.</summary>
public enum TarEntryType
{
    Regular,
    Directory,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}
