namespace LayerTools.Archive;

/// <summary>
/// Receives the bytes a <see cref="TarReader"/> consumes that are not payload, in stream order. The span
/// is only valid during the call. (A delegate of its own because Action cannot take a span on net8.0.)
/// </summary>
public delegate void TarRawSink(ReadOnlySpan<byte> bytes);
