using System.Management.Automation;
using LayerTools.Archive;

namespace LayerTools.Commands;

/// <summary>The size and digests a diff would have, computed without writing it anywhere.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "LayerDiff")]
[OutputType(typeof(LayerDiff))]
public sealed class MeasureLayerDiffCommand : LayerCmdlet
{
    [Parameter]
    [ArgumentCompleter(typeof(LayerCompleter))]
    [ValidateNotNullOrEmpty]
    public string? From { get; set; }

    [Parameter]
    [ValidateSet("None", "Gzip", "Zstd")]
    public string Compression { get; set; } = "None";

    protected override void Process(Layer layer) =>
        WriteObject(Store.ExportDiff(layer.Id, From, Stream.Null, Enum.Parse<CompressionKind>(Compression), path: null));
}
