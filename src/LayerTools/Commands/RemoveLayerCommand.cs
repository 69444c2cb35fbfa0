using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsCommon.Remove, "Layer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveLayerCommand : LayerCmdlet
{
    /// <summary>Unmount the layer first if it is mounted.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Remove the layer's children (and theirs) too.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    // Layers this command already removed as descendants of another; piping a whole store with -Recurse names them again.
    private readonly HashSet<string> _removed = new();

    protected override void ProcessRecord()
    {
        Layer = Layer.Where(name => !_removed.Contains(name)).ToArray();
        base.ProcessRecord();
    }

    protected override void Process(Layer layer)
    {
        int children = Store.Children(layer.Id).Count;
        string action = Recurse && children > 0 ? "Remove with its descendant layers" : "Remove";
        if (!ShouldProcess($"Layer {Describe(layer)}", action)) return;
        _removed.UnionWith(Store.Remove(layer.Id, Force, Recurse));
    }
}
