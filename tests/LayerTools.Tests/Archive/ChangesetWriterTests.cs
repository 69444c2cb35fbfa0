using System.Text;
using LayerTools.Archive;
using LayerTools.Native;
using Xunit;

namespace LayerTools.Tests.Archive;

/// <summary>
/// What an export reads is reached from the tree's root without following a symlink: a layer that changes
/// under an export (a container still writing to it) makes the export fail, never read outside the tree.
/// </summary>
public sealed class ChangesetWriterTests : IDisposable
{
    private const string Secret = "outside the layer\n";
    private readonly TempDirectory _directory = new();
    private readonly string _tree;
    private readonly string _outside;

    public ChangesetWriterTests()
    {
        _tree = _directory.Combine("tree");
        _outside = _directory.Combine("outside");
        Directory.CreateDirectory(_tree);
        Directory.CreateDirectory(_outside);
        File.WriteAllText(Path.Join(_outside, "secret"), Secret);
    }

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void A_directory_swapped_for_a_symlink_out_of_the_tree_stops_the_export_before_anything_outside_is_read()
    {
        // The changes were listed while "etc" was a directory; by the time its file is written, it is a symlink out.
        Fs.Symlink(_outside, Path.Join(_tree, "etc"));

        var output = new MemoryStream();
        var refused = Assert.Throws<IOException>(() => Write(output, Added("/etc/secret")));

        Assert.Contains(Path.Join(_tree, "etc"), refused.Message);
        Assert.Contains("no longer a directory", refused.Message);
        Assert.DoesNotContain(Secret, Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void A_symlink_named_by_the_changes_is_written_as_a_symlink_and_what_it_points_at_is_not_read()
    {
        Fs.Symlink(Path.Join(_outside, "secret"), Path.Join(_tree, "link"));

        var output = new MemoryStream();
        Write(output, Added("/link"));

        Assert.DoesNotContain(Secret, Encoding.UTF8.GetString(output.ToArray()));
        Assert.Contains(Path.Join(_outside, "secret"), Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void A_path_gone_since_the_changes_were_listed_stops_the_export_and_names_it()
    {
        Directory.CreateDirectory(Path.Join(_tree, "etc"));

        var refused = Assert.Throws<NativeException>(() => Write(new MemoryStream(), Added("/etc/hostname")));

        Assert.Equal(Path.Join(_tree, "etc/hostname"), refused.Path);
        Assert.Equal(Errno.ENOENT, refused.Errno);
    }

    [Fact]
    public void Files_and_the_root_are_read_through_the_tree()
    {
        Directory.CreateDirectory(Path.Join(_tree, "etc"));
        File.WriteAllText(Path.Join(_tree, "etc/hostname"), "layer\n");

        var output = new MemoryStream();
        Write(output, Added("/"), Added("/etc"), Added("/etc/hostname"));

        string text = Encoding.UTF8.GetString(output.ToArray());
        Assert.Contains("./", text);
        Assert.Contains("etc/hostname", text);
        Assert.Contains("layer\n", text);
    }

    private static LayerChange Added(string path) => new() { Path = path, Kind = ChangeKind.Added };

    private void Write(Stream output, params LayerChange[] changes)
    {
        using var tar = new TarWriter(output, leaveOpen: true);
        ChangesetWriter.Write(tar, _tree, changes, null);
    }
}
