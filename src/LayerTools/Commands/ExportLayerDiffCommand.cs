using System.Management.Automation;
using LayerTools.Archive;

namespace LayerTools.Commands;

[Cmdlet(VerbsData.Export, "LayerDiff", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(LayerDiff))]
public sealed class ExportLayerDiffCommand : LayerCmdlet
{
    /// <summary>The layer to diff against; by default the layer's parent (a base layer's diff holds its whole tree).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(LayerCompleter))]
    [ValidateNotNullOrEmpty]
    public string? From { get; set; }

    // -Path and -Stdout are checked by hand rather than as parameter sets: the layer parameter all
    // layer cmdlets share lives in one set of its own.

    /// <summary>The tarball to write. Without -Compression, a .gz/.tgz or .zst name picks the compression.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Write the tarball to standard output, for piping into another program; no object is written.</summary>
    [Parameter]
    public SwitchParameter Stdout { get; set; }

    [Parameter]
    [ValidateSet("None", "Gzip", "Zstd")]
    public string? Compression { get; set; }

    /// <summary>Refuse to replace an existing file.</summary>
    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    protected override void BeginProcessing()
    {
        if (Stdout == (Path is not null))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give either -Path (a file to write) or -Stdout."),
                "PathOrStdoutRequired", ErrorCategory.InvalidArgument, null));
    }

    private string? _written;

    protected override void Process(Layer layer)
    {
        if (Stdout)
        {
            if (!ShouldProcess($"Layer {Describe(layer)}", "Export diff to standard output")) return;
            using Stream output = Console.OpenStandardOutput();
            Store.ExportDiff(layer.Id, From, output, CompressionOf(null), path: null);
            return;
        }
        string file = GetUnresolvedProviderPathFromPSPath(Path!);
        // One file holds one layer: a second layer piped in would silently replace the first.
        if (_written is not null)
            throw new ArgumentException($"-Path '{file}' already holds the diff of layer {_written[..12]}; export each layer to its own file.");
        if (!ShouldProcess($"Layer {Describe(layer)}", $"Export diff to '{file}'")) return;
        WriteObject(Store.ExportDiff(layer.Id, From, file, CompressionOf(file), overwrite: !NoClobber));
        _written = layer.Id;
    }

    private CompressionKind CompressionOf(string? file)
    {
        if (Compression is not null) return Enum.Parse<CompressionKind>(Compression);
        string[] unwritable = [".bz2", ".xz", ".lz4", ".lzma"];
        if (file is not null && unwritable.FirstOrDefault(e => file.EndsWith(e, StringComparison.OrdinalIgnoreCase)) is { } extension)
            throw new ArgumentException($"Export-LayerDiff writes gzip (.gz) or zstd (.zst), not '{extension}'; choose another name, or give -Compression to say what to write.");
        return file switch
        {
            not null when file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) => CompressionKind.Gzip,
            not null when file.EndsWith(".zst", StringComparison.OrdinalIgnoreCase) => CompressionKind.Zstd,
            _ => CompressionKind.None,
        };
    }
}
