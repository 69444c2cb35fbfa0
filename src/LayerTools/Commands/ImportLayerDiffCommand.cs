using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsData.Import, "LayerDiff", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(LayerDiff))]
public sealed class ImportLayerDiffCommand : LayerCmdlet
{
    /// <summary>The layer tarball: plain, gzip, zstd or bzip2 (detected from its first bytes).</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void Process(Layer layer)
    {
        string file = GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess($"Layer {Describe(layer)}", $"Apply '{file}'")) return;
        WriteObject(Store.ImportDiff(layer.Id, file));
    }
}
