using System.Management.Automation;
using LayerTools.Store;

namespace LayerTools.Commands;

[Cmdlet(VerbsCommon.New, "Layer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(Layer))]
public sealed class NewLayerCommand : StoreCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotNull]
    public string[] Name { get; set; } = [];

    /// <summary>The layer to start from: the new layer's tree begins as a copy (or view) of it.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(LayerCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Parent { get; set; }

    [Parameter]
    [ValidatePattern("^[0-9a-f]{64}$")]
    public string? Id { get; set; }

    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    [Parameter]
    public string? Metadata { get; set; }

    /// <summary>A layer tarball (plain, gzip, zstd or bzip2) to apply to the new layer before it counts as made.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Archive { get; set; }

    protected override void ProcessRecord()
    {
        string label = Name.Length > 0 ? $"'{string.Join("', '", Name)}'" : "(unnamed)";
        Run(label, () =>
        {
            // A parent must exist already; without one, the store itself is created only once -WhatIf/-Confirm allow it.
            string? parent = Parent is null ? null : Store.Get(Parent).Id;
            if (!ShouldProcess($"Layer {label} in store '{RootPath}'", parent is null ? "Create" : $"Create on parent {parent[..12]}"))
                return;
            StoreEngine store = StoreEngine.Open(Options);
            var spec = new LayerSpec { Names = Name, Parent = parent, Id = Id, ReadOnly = ReadOnly, Metadata = Metadata };
            WriteObject(Archive is null ? store.Create(spec) : store.Create(spec, GetUnresolvedProviderPathFromPSPath(Archive)));
        });
    }
}
