using System.Text.Json.Nodes;
using LayerTools.Store;
using Xunit;

namespace LayerTools.Tests.Store;

/// <summary>The driver a store gets when none is asked for.</summary>
public sealed class DefaultDriverTests : IDisposable
{
    private readonly ScratchStore _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public void Open_initializes_a_never_used_root_with_the_default_driver()
    {
        Assert.Null(StoreEngine.OpenExisting(_scratch.Options));
        Assert.False(Directory.Exists(_scratch.Root), "OpenExisting must not create anything");

        StoreEngine store = StoreEngine.Open(_scratch.Options);

        Assert.Equal("vfs", store.Driver.Name);
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(_scratch.Root, "store.json")))!;
        Assert.Equal("vfs", (string?)config["driver"]);
        Assert.Equal(StoreConfig.CurrentVersion, (int?)config["version"]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_scratch.Root));
        Assert.NotNull(StoreEngine.OpenExisting(_scratch.Options));
        Assert.Equal(0, store.Describe().LayerCount);
        Assert.Empty(_scratch.Warnings);
    }
}
