using System.Diagnostics;
using LayerTools.Archive;
using LayerTools.Native;
using Xunit;
using static LayerTools.Tests.TarSplit.TarSplitHarness;

namespace LayerTools.Tests.TarSplit;

/// <summary>A layer whose files changed after the import no longer replays: the change is reported, and symlinks are never followed.</summary>
public sealed class TarSplitMismatchTests(TarSplitSourceTree tree) : IClassFixture<TarSplitSourceTree>, IDisposable
{
    private readonly TempDirectory _scratch = new();

    [Fact]
    public void Content_rewritten_at_the_same_size_fails_the_digest()
    {
        var (sidecar, layer) = Import("gnu");
        using (var handle = File.OpenHandle(Path.Join(layer, TarSplitSourceTree.BigFile), FileMode.Open, FileAccess.ReadWrite))
        {
            byte[] one = new byte[1];
            RandomAccess.Read(handle, one, 1_000_000);
            one[0] ^= 0x01;
            RandomAccess.Write(handle, one, 1_000_000);
        }

        Assert.False(Verify(sidecar, layer));
        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Null(mismatch.Path);
        Assert.Contains("changed without changing its size", mismatch.Message);
    }

    [Fact]
    public void A_deleted_file_is_named_and_stops_the_replay_before_its_data()
    {
        var (sidecar, layer) = Import("gnu");
        File.Delete(Path.Join(layer, TarSplitSourceTree.BigFile));

        Assert.False(Verify(sidecar, layer));
        var output = new MemoryStream();
        var mismatch = Assert.Throws<TarSplitMismatchException>(() => TarSplitReplayer.Replay(new MemoryStream(sidecar), layer, output));
        Assert.Equal(TarSplitSourceTree.BigFile, mismatch.Path);
        Assert.Contains($"'{TarSplitSourceTree.BigFile}' is missing", mismatch.Message);
        Assert.True(output.Length < TarSplitSourceTree.BigFileSize, "the replay went on past the missing file");
    }

    [Fact]
    public void A_file_of_another_size_is_named()
    {
        var (sidecar, layer) = Import("posix");
        File.AppendAllText(Path.Join(layer, "tree/text.txt"), "more");

        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal("tree/text.txt", mismatch.Path);
        Assert.Contains("17 bytes long instead of 13", mismatch.Message);
    }

    [Fact]
    public void A_file_replaced_by_a_symlink_to_the_same_content_is_not_followed()
    {
        var (sidecar, layer) = Import("gnu");
        string outside = _scratch.Combine("outside.bin");
        string file = Path.Join(layer, TarSplitSourceTree.BigFile);
        File.Move(file, outside);
        Fs.Symlink(outside, file);

        Assert.False(Verify(sidecar, layer));
        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal(TarSplitSourceTree.BigFile, mismatch.Path);
        Assert.Contains("is a symlink", mismatch.Message);
    }

    [Fact]
    public void A_directory_replaced_by_a_symlink_to_an_identical_copy_is_not_followed()
    {
        var (sidecar, layer) = Import("gnu");
        string outside = _scratch.Combine("outside-dir");
        string directory = Path.Join(layer, "tree/sub/dir");
        Directory.Move(directory, outside);
        Fs.Symlink(outside, directory);

        Assert.False(Verify(sidecar, layer));
        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal("tree/sub/dir/nested.txt", mismatch.Path);
        Assert.Contains("'tree/sub/dir' is a symlink", mismatch.Message);
    }

    [Fact]
    public void A_symlinked_directory_deep_in_a_long_path_is_not_followed()
    {
        var (sidecar, layer) = Import("gnu");
        string middle = Path.Join(layer, "long", new string('d', 120));
        string outside = _scratch.Combine("outside-long");
        Directory.Move(middle, outside);
        Fs.Symlink(outside, middle);

        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.StartsWith("long/" + new string('d', 120) + "/", mismatch.Path);
    }

    [Fact]
    public void A_file_replaced_by_a_fifo_is_refused_without_opening_it()
    {
        var (sidecar, layer) = Import("gnu");
        string file = Path.Join(layer, "tree/text.txt");
        File.Delete(file);
        Fs.Mknod(file, FileKind.Fifo, 0x1A4, 0, 0);

        var clock = Stopwatch.StartNew();
        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal("tree/text.txt", mismatch.Path);
        Assert.Contains("is a fifo", mismatch.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_file_replaced_by_a_directory_is_named()
    {
        var (sidecar, layer) = Import("ustar");
        string file = Path.Join(layer, "tree/block513");
        File.Delete(file);
        Directory.CreateDirectory(file);

        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal("tree/block513", mismatch.Path);
    }

    [Theory]
    [InlineData("sparse-gnu")]
    [InlineData("sparse-1.0")]
    public void A_sparse_file_with_changed_data_or_size_no_longer_replays(string variant)
    {
        var (sidecar, layer) = Import(variant);
        string file = Path.Join(layer, "sparse/holes.img");
        using (var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write))
            RandomAccess.Write(handle, new byte[] { 1, 2, 3 }, 1_200_100);
        Assert.False(Verify(sidecar, layer));

        using (var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Write))
            RandomAccess.SetLength(handle, 1_999_999);
        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal("sparse/holes.img", mismatch.Path);
    }

    [Fact]
    public void Data_in_a_hole_of_a_sparse_file_is_not_part_of_the_tar()
    {
        var (sidecar, layer) = Import("sparse-0.1");
        using (var handle = File.OpenHandle(Path.Join(layer, "sparse/holes.img"), FileMode.Open, FileAccess.Write))
            RandomAccess.Write(handle, new byte[] { 9, 9, 9 }, 300_000);

        Assert.True(Verify(sidecar, layer));
    }

    [Fact]
    public void An_archive_that_overwrites_its_own_file_does_not_replay_from_the_final_tree()
    {
        // The layer holds only the last version of a path an archive lists twice.
        string archive = _scratch.Combine("twice.tar");
        File.Copy(tree.Archive("gnu-unblocked"), archive);
        string source = _scratch.Combine("second");
        Directory.CreateDirectory(Path.Join(source, "tree"));
        File.WriteAllText(Path.Join(source, "tree/text.txt"), "second version, longer\n");
        Tests.Archive.ExternalTool.Run("tar", "--format=gnu", "-C", source, "-rf", archive, "tree/text.txt");
        var (sidecar, layer) = (Record(archive), Extract(archive, _scratch));

        var mismatch = Assert.Throws<TarSplitMismatchException>(() => Replay(sidecar, layer));
        Assert.Equal("tree/text.txt", mismatch.Path);
    }

    private (byte[] Sidecar, string Layer) Import(string variant)
    {
        string archive = tree.Archive(variant);
        byte[] sidecar = Record(archive);
        string layer = Extract(archive, _scratch);
        Assert.True(Verify(sidecar, layer), "the freshly extracted layer does not replay");
        return (sidecar, layer);
    }

    public void Dispose() => _scratch.Dispose();
}
