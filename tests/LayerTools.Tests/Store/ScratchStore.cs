using System.Text.Json;
using System.Text.Json.Nodes;
using LayerTools.Native;
using LayerTools.Store;
using Xunit;

namespace LayerTools.Tests.Store;

/// <summary>
/// A store root and run root in a fresh directory on disk, the warnings the store gave, and the on-disk
/// facts tests check (layers.json, driver trees). Disposing takes down every mount under the directory,
/// whatever state the test left the store in.
/// </summary>
public sealed class ScratchStore : IDisposable
{
    private static readonly EnumerationOptions EveryEntry = new() { AttributesToSkip = 0, RecurseSubdirectories = true };
    private readonly TempDirectory _directory = new();

    /// <summary>A scratch store that <see cref="Open"/> initializes with <paramref name="driver"/>; vfs when none is named, as the tests written before overlay expect.</summary>
    public ScratchStore(string driver = "vfs")
    {
        Root = _directory.Combine("store");
        RunRoot = _directory.Combine("run");
        Layout = new DriverLayout(driver, Root);
    }

    public string Driver => Layout.Driver;
    public DriverLayout Layout { get; }
    public string Root { get; }
    public string RunRoot { get; }
    public string Location => _directory.Path;

    /// <summary>Every warning given through <see cref="Options"/> by any engine opened on this store.</summary>
    public List<string> Warnings { get; } = new();

    public StoreOptions Options => OptionsAt(Root);

    /// <summary>Options naming this store's root spelled another way (a trailing slash, a dot segment).</summary>
    public StoreOptions OptionsAt(string root) => new()
    {
        Root = root,
        RunRoot = RunRoot,
        LockTimeout = TimeSpan.FromSeconds(30),
        Warning = message => { lock (Warnings) Warnings.Add(message); },
    };

    /// <summary>The store, initialized with <see cref="Driver"/> if it was never used.</summary>
    public StoreEngine Open() => StoreEngine.OpenExisting(Options) ?? StoreEngine.Initialize(Options, Driver, force: false);

    public string LayersFile => Path.Combine(Root, "layers.json");

    /// <summary>The layer's own files (see <see cref="DriverLayout.OwnTree"/>).</summary>
    public string TreeOf(string id) => Layout.OwnTree(id);

    /// <summary>The layer ids the driver holds a tree for.</summary>
    public IReadOnlyList<string> TreeIds() => Layout.LayerIds();

    /// <summary>layers.json as JSON, to look at or change what the engine wrote.</summary>
    public JsonArray LayerRecords() =>
        (JsonNode.Parse(File.ReadAllText(LayersFile))?["layers"] as JsonArray)
        ?? throw new InvalidDataException($"{LayersFile} has no layers array");

    public void RewriteLayerRecords(Action<JsonArray> change)
    {
        JsonNode document = JsonNode.Parse(File.ReadAllText(LayersFile))!;
        change(document["layers"]!.AsArray());
        File.WriteAllText(LayersFile, document.ToJsonString());
    }

    /// <summary>Every metadata file parses and no temporary file of an atomic write is left behind.</summary>
    public void AssertMetadataIntact()
    {
        foreach (string file in new[] { LayersFile, Path.Combine(Root, "store.json") }.Where(File.Exists))
            using (JsonDocument.Parse(File.ReadAllBytes(file))) { }
        if (Directory.Exists(RunRoot))
            foreach (string file in Directory.EnumerateFiles(RunRoot, "mounts.json", EveryEntry))
                using (JsonDocument.Parse(File.ReadAllBytes(file))) { }
        string[] leftovers = new[] { Root, RunRoot }
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.tmp", EveryEntry))
            .ToArray();
        Assert.True(leftovers.Length == 0, "temporary files left behind: " + string.Join(", ", leftovers));
    }

    /// <summary>Mount points under this store's directory, deepest first.</summary>
    public IReadOnlyList<string> MountsUnder() =>
        MountInfo.ReadAll()
            .Select(m => m.MountPoint)
            .Where(p => p.StartsWith(Location + "/", StringComparison.Ordinal))
            .Distinct()
            .OrderByDescending(p => p.Length)
            .ToList();

    public void Dispose()
    {
        foreach (string mount in MountsUnder())
        {
            // A mount may be stacked several times if a test went wrong; take down every layer of it.
            for (int i = 0; i < 8 && Mounts.IsMountPoint(mount); i++)
            {
                try { Mounts.Unmount(mount, lazy: true); }
                catch (NativeException) { break; }
            }
        }
        _directory.Dispose();
    }
}
