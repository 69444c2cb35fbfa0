namespace LayerTools.Store;

/// <summary>Where a store lives and how the caller wants to hear about its work.</summary>
public sealed class StoreOptions
{
    /// <summary>The store directory; <see cref="DefaultRoot"/> when not given.</summary>
    public string Root { get; init; } = DefaultRoot;

    /// <summary>The tmpfs directory under which each store keeps its mount counts.</summary>
    public string RunRoot { get; init; } = DefaultRunRoot;

    /// <summary>How long a writer waits for another process's lock before giving up with StoreLocked.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(2);

    public Action<string>? Verbose { get; init; }
    public Action<string>? Warning { get; init; }
    public Action<WorkProgress>? Progress { get; init; }

    public static string DefaultRoot =>
        Environment.GetEnvironmentVariable("LAYERTOOLS_ROOT") is { Length: > 0 } root ? root : "/var/lib/layertools";

    public static string DefaultRunRoot =>
        Environment.GetEnvironmentVariable("LAYERTOOLS_RUNROOT") is { Length: > 0 } run ? run : "/run/layertools";
}
