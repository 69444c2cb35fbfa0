using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsData.Mount, "Layer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(LayerMount))]
public sealed class MountLayerCommand : LayerCmdlet
{
    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    protected override void Process(Layer layer)
    {
        if (!ShouldProcess($"Layer {Describe(layer)}", ReadOnly ? "Mount read-only" : "Mount")) return;
        WriteObject(Store.Mount(layer.Id, ReadOnly));
    }
}
