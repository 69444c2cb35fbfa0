using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using LayerTools.Store;

namespace LayerTools.Commands;

/// <summary>Completes layer names and ids from the store named by -Root (or the default store).</summary>
public sealed class LayerCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string root = fakeBoundParameters["Root"] as string ?? StoreOptions.DefaultRoot;
        string prefix = wordToComplete.Trim('\'', '"');
        IReadOnlyList<Layer> layers;
        try
        {
            // Completion must never create a store, so only an initialized one is read.
            layers = StoreEngine.OpenExisting(new StoreOptions { Root = root })?.List() ?? [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LayerToolsException)
        {
            yield break;
        }
        foreach (Layer layer in layers.OrderBy(l => l.Names.FirstOrDefault() ?? "\uffff").ThenBy(l => l.Id))
        {
            string tip = $"{layer.Id[..12]}  parent {(layer.Parent is null ? "none" : layer.Parent[..12])}  created {layer.Created:u}";
            foreach (string name in layer.Names.Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
                yield return new CompletionResult(name, name, CompletionResultType.ParameterValue, tip);
            if (layer.Id.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                yield return new CompletionResult(layer.Id, layer.Id[..12], CompletionResultType.ParameterValue, tip);
        }
    }
}
