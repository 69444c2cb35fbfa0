using System.Management.Automation;
using LayerTools.Store;

namespace LayerTools.Commands;

[Cmdlet(VerbsData.Dismount, "Layer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = "Layer")]
[OutputType(typeof(LayerMount))]
public sealed class DismountLayerCommand : LayerCmdlet
{
    /// <summary>The mount point of a layer of this store.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Path")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Drop every user of the mount at once; a busy mount is detached lazily.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Layer")
        {
            base.ProcessRecord();
            return;
        }
        string path = GetUnresolvedProviderPathFromPSPath(Path);
        Run(path, () =>
        {
            // A mount path leads back to its store, so -Root is needed only to disambiguate.
            if (!MyInvocation.BoundParameters.ContainsKey(nameof(Root)))
                Root = StoreEngine.FindStoreOfMount(path, Options.RunRoot) ?? Root;
            if (!ShouldProcess($"Mount '{path}'", Force ? "Dismount all users" : "Dismount")) return;
            Emit(Store.UnmountPath(path, Force));
        });
    }

    protected override void Process(Layer layer)
    {
        if (!ShouldProcess($"Layer {Describe(layer)}", Force ? "Dismount all users" : "Dismount")) return;
        Emit(Store.Unmount(layer.Id, Force));
    }

    private void Emit(LayerMount mount)
    {
        if (PassThru) WriteObject(mount);
    }
}
