namespace LayerTools;

/// <summary>How far a long operation has come, for a progress bar. <c>Total</c> is 0 when unknown.</summary>
public readonly record struct WorkProgress(string Activity, string Status, long Done, long Total);
