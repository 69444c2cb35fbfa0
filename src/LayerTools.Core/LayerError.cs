namespace LayerTools;

/// <summary>
/// The stable error ids scripts match on (see INTERFACE.md). The cmdlet layer maps each to an
/// ErrorRecord id and category; the core only names which one happened.
/// </summary>
public enum LayerError
{
    LayerNotFound,
    LayerNameInUse,
    LayerIdInUse,
    LayerIdAmbiguous,
    InvalidLayerName,
    InvalidLayerId,
    LayerMounted,
    LayerNotMounted,
    LayerHasChildren,
    LayerReadOnly,
    StoreLocked,
    ArchiveNotFound,
    ArchiveChanged,
    OutputExists,
    OutputDirectoryNotFound,
    StoreNotFound,
    StoreAlreadyInitialized,
    StoreCorrupt,
    DriverNotSupported,
}

/// <summary>A failure the user can act on: which error, a sentence that says what to do, and what it concerns.</summary>
public sealed class LayerToolsException : Exception
{
    public LayerToolsException(LayerError error, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
        Target = target;
    }

    public LayerError Error { get; }
    public object? Target { get; }
}
