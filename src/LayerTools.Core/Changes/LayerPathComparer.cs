namespace LayerTools.Changes;

/// <summary>
/// The one order in which layer paths are listed and exported: component by component, each compared
/// ordinally, so a directory's whole subtree follows the directory before any later sibling ("/a",
/// "/a/b", "/a-b"), parents always precede their children, and the output does not depend on culture
/// or on the order a file system lists its entries. Among one directory's children the OCI opaque
/// marker comes first, because it must reach an applier before any entry it leaves standing.
/// </summary>
public sealed class LayerPathComparer : IComparer<string>
{
    /// <summary>The OCI whiteout name that marks its directory as hiding everything below it in lower layers.</summary>
    public const string OpaqueMarker = ".wh..wh..opq";

    public static readonly LayerPathComparer Instance = new();

    private LayerPathComparer() { }

    /// <summary>Compares two absolute layer paths ("/" is the root).</summary>
    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;

        ReadOnlySpan<char> left = x.AsSpan().TrimStart('/');
        ReadOnlySpan<char> right = y.AsSpan().TrimStart('/');
        while (true)
        {
            if (left.IsEmpty || right.IsEmpty) return left.Length.CompareTo(right.Length);
            int order = CompareNames(NextComponent(ref left), NextComponent(ref right));
            if (order != 0) return order;
        }
    }

    /// <summary>Orders the names of one directory's children; 0 only for equal names.</summary>
    internal static int CompareNames(ReadOnlySpan<char> x, ReadOnlySpan<char> y)
    {
        bool xOpaque = x.SequenceEqual(OpaqueMarker);
        bool yOpaque = y.SequenceEqual(OpaqueMarker);
        if (xOpaque || yOpaque) return yOpaque.CompareTo(xOpaque);
        return x.SequenceCompareTo(y);
    }

    private static ReadOnlySpan<char> NextComponent(ref ReadOnlySpan<char> path)
    {
        int slash = path.IndexOf('/');
        if (slash < 0)
        {
            ReadOnlySpan<char> last = path;
            path = default;
            return last;
        }
        ReadOnlySpan<char> component = path[..slash];
        path = path[(slash + 1)..];
        return component;
    }
}
