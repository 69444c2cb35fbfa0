namespace LayerTools.Store;

/// <summary>What New-Layer asks for.</summary>
public sealed class LayerSpec
{
    public IReadOnlyList<string> Names { get; init; } = [];

    /// <summary>The parent layer by id, name or unique id prefix; null for a base layer.</summary>
    public string? Parent { get; init; }

    /// <summary>A 64-hex id to use instead of a random one.</summary>
    public string? Id { get; init; }

    public bool ReadOnly { get; init; }
    public string? Metadata { get; init; }
}
