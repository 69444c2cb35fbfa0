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
            Run(RootPath, () => WriteObject(Store.List(), enumerateCollection: true));
            return;
        }
        foreach (string name in Name)
        {
            Run(name, () =>
            {
                if (!WildcardPattern.ContainsWildcardCharacters(name))
                {
                    WriteObject(Store.Get(name));
                    return;
                }
                var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
                WriteObject(Store.List().Where(l => pattern.IsMatch(l.Id) || l.Names.Any(pattern.IsMatch)), enumerateCollection: true);
            });
        }
    }
}
