using System.Management.Automation;

namespace LayerTools.Commands;

[Cmdlet(VerbsCommon.Get, "Layer")]
[OutputType(typeof(Layer))]
public sealed class GetLayerCommand : StoreCmdlet
{
    /// <summary>Ids, names, unique id prefixes or wildcard patterns; none lists every layer.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id", "LayerId")]
    [ArgumentCompleter(typeof(LayerCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        if (Name is null || Name.Length == 0)
        {
            Run(RootPath, () => Emit(Store.List()));
            return;
        }
        foreach (string name in Name)
        {
            Run(name, () =>
            {
                if (!WildcardPattern.ContainsWildcardCharacters(name))
                {
                    Emit([Store.Get(name)]);
                    return;
                }
                var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
                Emit(Store.List().Where(l => pattern.IsMatch(l.Id) || l.Names.Any(pattern.IsMatch)));
            });
        }
    }

    /// <summary>Writes the layers, with a warning for each whose content cannot be trusted.</summary>
    private void Emit(IEnumerable<Layer> layers)
    {
        foreach (Layer layer in layers)
        {
            if (layer.Problem is not null) WriteWarning($"Layer {Describe(layer)}: {layer.Problem}.");
            WriteObject(layer);
        }
    }
}
