using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsCommon.Get, "LayerStore")]
[OutputType(typeof(LayerStore))]
public sealed class GetLayerStoreCommand : StoreCmdlet
{
    protected override void ProcessRecord() => Run(RootPath, () => WriteObject(Store.Describe()));
}
