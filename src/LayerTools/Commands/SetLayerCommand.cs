using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsCommon.Set, "Layer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(Layer))]
public sealed class SetLayerCommand : LayerCmdlet
{
    [Parameter]
    [ValidateNotNull]
    public string[] AddName { get; set; } = [];

    [Parameter]
    [ValidateNotNull]
    public string[] RemoveName { get; set; } = [];

    [Parameter]
    public string? Metadata { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process(Layer layer)
    {
        if (!ShouldProcess($"Layer {Describe(layer)}", "Set names and metadata")) return;
        Layer updated = Store.Update(layer.Id, AddName, RemoveName, Metadata);
        if (PassThru) WriteObject(updated);
    }
}
