using System.Management.Automation;
using LayerTools.Store;

namespace LayerTools.Commands;

[Cmdlet(VerbsData.Initialize, "LayerStore", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(LayerStore))]
public sealed class InitializeLayerStoreCommand : StoreCmdlet
{
    [Parameter(Position = 0)]
    [ValidateSet("vfs", "overlay", "devicemapper", "aufs")]
    public string? Driver { get; set; }

    /// <summary>Re-initialize a store that already exists: every layer is unmounted and removed.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord() => Run(RootPath, () =>
    {
        StoreEngine? existing = StoreEngine.OpenExisting(Options);
        if (existing is not null && Force)
        {
            int layers = existing.List().Count;
            string action = $"Re-initialize with the {Driver ?? existing.Driver.Name} driver, removing {layers} layer{(layers == 1 ? "" : "s")}";
            if (!ShouldProcess($"Store '{existing.Root}'", action)) return;
        }
        else if (existing is null && !ShouldProcess($"Store '{RootPath}'", $"Initialize with the {Driver ?? "default"} driver"))
        {
            return;
        }
        WriteObject(StoreEngine.Initialize(Options, Driver, Force).Describe());
    });
}
