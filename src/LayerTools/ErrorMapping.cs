using System.Management.Automation;
using LayerTools.Archive;
using LayerTools.Native;

namespace LayerTools.Commands;

/// <summary>Turns core exceptions into ErrorRecords with the stable ids of INTERFACE.md.</summary>
internal static class ErrorMapping
{
    public static ErrorRecord ToErrorRecord(Exception exception, object? target) => exception switch
    {
        LayerToolsException e => new ErrorRecord(e, e.Error.ToString(), CategoryOf(e.Error), e.Target ?? target),
        ArchiveUnsafeEntryException e => new ErrorRecord(e, "ArchiveUnsafeEntry", ErrorCategory.SecurityError, e.EntryName ?? target),
        ArchiveCorruptException e => new ErrorRecord(e, "ArchiveCorrupt", ErrorCategory.InvalidData, e.EntryName ?? target),
        NativeException { IsPermissionDenied: true } e => new ErrorRecord(
            new UnauthorizedAccessException($"{e.Message}. LayerTools needs root (or CAP_SYS_ADMIN) for this.", e),
            "NotPermitted", ErrorCategory.PermissionDenied, e.Path ?? target),
        UnauthorizedAccessException e => new ErrorRecord(e, "NotPermitted", ErrorCategory.PermissionDenied, target),
        NativeException e => new ErrorRecord(e, "FileSystemError", ErrorCategory.WriteError, e.Path ?? target),
        IOException e => new ErrorRecord(e, "FileSystemError", ErrorCategory.WriteError, target),
        ArgumentException e => new ErrorRecord(e, "InvalidArgument", ErrorCategory.InvalidArgument, target),
        _ => new ErrorRecord(exception, "UnexpectedError", ErrorCategory.NotSpecified, target),
    };

    private static ErrorCategory CategoryOf(LayerError error) => error switch
    {
        LayerError.LayerNotFound or LayerError.ArchiveNotFound => ErrorCategory.ObjectNotFound,
        LayerError.LayerNameInUse or LayerError.LayerIdInUse => ErrorCategory.ResourceExists,
        LayerError.LayerIdAmbiguous or LayerError.InvalidLayerName or LayerError.InvalidLayerId => ErrorCategory.InvalidArgument,
        LayerError.LayerMounted or LayerError.LayerHasChildren or LayerError.StoreLocked or LayerError.ArchiveChanged => ErrorCategory.ResourceBusy,
        LayerError.LayerNotMounted or LayerError.LayerReadOnly => ErrorCategory.InvalidOperation,
        LayerError.StoreNotFound => ErrorCategory.ObjectNotFound,
        LayerError.StoreAlreadyInitialized or LayerError.OutputExists => ErrorCategory.ResourceExists,
        LayerError.OutputDirectoryNotFound => ErrorCategory.ObjectNotFound,
        LayerError.StoreCorrupt => ErrorCategory.InvalidData,
        LayerError.DriverNotSupported => ErrorCategory.NotInstalled,
        _ => ErrorCategory.NotSpecified,
    };
}
