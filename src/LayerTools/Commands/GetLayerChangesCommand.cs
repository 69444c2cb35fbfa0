using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsCommon.Get, "LayerChanges")]
[OutputType(typeof(LayerChange))]
public sealed class GetLayerChangesCommand : LayerCmdlet
{
    /// <summary>The layer to compare with; by default the layer's parent.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(LayerCompleter))]
    [ValidateNotNullOrEmpty]
    public string? From { get; set; }

    protected override void Process(Layer layer) => WriteObject(Store.Changes(layer.Id, From), enumerateCollection: true);
}
