using LayerTools.Changes;
using Xunit;

namespace LayerTools.Tests.Changes;

public sealed class LayerPathComparerTests
{
    [Fact]
    public void A_directory_subtree_comes_before_siblings_that_sort_after_it()
    {
        string[] expected = ["/", "/a", "/a/b", "/a/b/c", "/a/c", "/a-b", "/a.b", "/a.b/x", "/ab", "/b"];

        string[] sorted = [.. expected.Reverse().Order(LayerPathComparer.Instance)];

        Assert.Equal(expected, sorted);
    }

    [Fact]
    public void Components_compare_ordinally_not_by_culture()
    {
        // Upper case before lower case, punctuation by code point, non-ASCII after ASCII.
        string[] expected = ["/B", "/a", "/a b", "/a!", "/a~", "/z", "/é"];

        string[] sorted = [.. expected.Reverse().Order(LayerPathComparer.Instance)];

        Assert.Equal(expected, sorted);
    }

    [Fact]
    public void The_opaque_marker_sorts_right_after_its_directory()
    {
        // "!" and "-" sort before "." ordinally, so only the special case can put the marker first.
        string[] expected =
        [
            "/", "/.wh..wh..opq", "/!", "/-", "/.a", "/.wh.gone",
            "/d", "/d/.wh..wh..opq", "/d/!", "/d/.wh..wh..opr", "/d/x", "/d/x/.wh..wh..opq", "/d/x/y",
        ];

        string[] sorted = [.. expected.Reverse().Order(LayerPathComparer.Instance)];

        Assert.Equal(expected, sorted);
    }

    [Theory]
    [InlineData("/a", "/a", 0)]
    [InlineData("/", "/", 0)]
    [InlineData("/", "/a", -1)]
    [InlineData("/a/b", "/a", 1)]
    [InlineData("/a/b", "/a-b", -1)]
    [InlineData("/a/.wh..wh..opq", "/a/!", -1)]
    [InlineData("/a/!", "/a/.wh..wh..opq", 1)]
    [InlineData("/a/.wh..wh..opq", "/a/.wh..wh..opq", 0)]
    [InlineData("/.wh..wh..opq/z", "/.wh..wh..opq", 1)]
    public void Compare_is_consistent_both_ways(string x, string y, int expected)
    {
        Assert.Equal(expected, Math.Sign(LayerPathComparer.Instance.Compare(x, y)));
        Assert.Equal(-expected, Math.Sign(LayerPathComparer.Instance.Compare(y, x)));
    }

    [Fact]
    public void Null_sorts_first()
    {
        Assert.True(LayerPathComparer.Instance.Compare(null, "/") < 0);
        Assert.True(LayerPathComparer.Instance.Compare("/", null) > 0);
        Assert.Equal(0, LayerPathComparer.Instance.Compare(null, null));
    }
}
