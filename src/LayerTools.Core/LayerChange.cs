namespace LayerTools;

public enum ChangeKind { Added, Modified, Deleted }

/// <summary>One path a layer adds, modifies or deletes relative to the layer below it.</summary>
public sealed class LayerChange
{
    /// <summary>The path as seen inside the layer: absolute, "/" for its root (<c>/etc/hosts</c>).</summary>
    public required string Path { get; init; }

    public required ChangeKind Kind { get; init; }

    public override string ToString() => $"{Kind} {Path}";
}
