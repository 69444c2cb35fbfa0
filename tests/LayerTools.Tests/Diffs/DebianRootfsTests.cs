using System.Security.Cryptography;
using LayerTools.Tests.Cmdlets;
using Xunit;

namespace LayerTools.Tests.Diffs;

/// <summary>A real root file system through the cmdlets: import, compare with its source, export byte for byte.</summary>
[Trait("Category", "Rootfs")]
public sealed class DebianRootfsTests
{
    [Theory]
    [InlineData("vfs")]
    [InlineData("overlay")]
    public void A_debootstrap_tarball_imports_to_the_source_tree_and_exports_back_byte_for_byte(string driver)
    {
        using var engine = new HostedEngine(driver);
        string tarball = DebianRootfs.Tarball;

        Layer layer = engine.Run($"New-Layer -Root $r -Name debian -Archive '{tarball}'").Single<Layer>();
        string tree = engine.Run("(Mount-Layer -Root $r debian -ReadOnly).Path").Single<string>();

        Assert.Empty(TreeSnapshot.Take(tree).DifferencesFrom(TreeSnapshot.Take(DebianRootfs.Tree)));
        string digest = "sha256:" + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(tarball))).ToLowerInvariant();
        Assert.Equal(digest, layer.UncompressedDigest);
        Assert.Equal("None", layer.Compression);
        Assert.Contains(0u, layer.Uids);

        string again = Path.Combine(engine.Root, "..", "again.tar");
        LayerDiff diff = engine.Run($"Export-LayerDiff -Root $r debian -Path '{again}'").Single<LayerDiff>();
        Assert.True(diff.Exact);
        Assert.Equal(digest, diff.UncompressedDigest);
        Assert.Equal(File.ReadAllBytes(tarball), File.ReadAllBytes(again));
    }
}
