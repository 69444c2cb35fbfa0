using LayerTools.Archive;
using Xunit;
using static LayerTools.Tests.TarSplit.TarSplitHarness;

namespace LayerTools.Tests.TarSplit;

/// <summary>The recorder refuses what it could not replay, and owns its output unless told otherwise.</summary>
public sealed class TarSplitRecorderTests(TarSplitSourceTree tree) : IClassFixture<TarSplitSourceTree>
{
    private const string EmptyDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Fact]
    public void An_entry_with_data_left_unreported_fails_the_completion()
    {
        using var recorder = new TarSplitRecorder(new MemoryStream());
        var tar = new DigestStream(File.OpenRead(tree.Archive("gnu")));
        using (var reader = new TarReader(tar, recorder.RawSink, leaveOpen: true))
        {
            while (reader.Next() is { } entry)
            {
                if (entry.Name != TarSplitSourceTree.BigFile) recorder.Applied(entry, Normalize(entry.Name));
            }
        }

        var error = Assert.Throws<InvalidOperationException>(() => recorder.Complete(tar.Digest, tar.Length));
        Assert.Contains("without Applied being called", error.Message);
    }

    [Fact]
    public void Data_of_an_entry_that_is_not_a_regular_file_is_refused()
    {
        using var recorder = new TarSplitRecorder(new MemoryStream());
        var symlink = new TarEntry { Name = "link", Type = TarEntryType.Symlink, LinkName = "target", Size = 6, StoredSize = 6 };

        Assert.Throws<ArgumentException>(() => recorder.Applied(symlink, "link"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/etc/passwd")]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("trailing/")]
    public void A_path_that_is_not_plainly_beneath_the_root_is_refused_for_a_file_with_data(string path)
    {
        using var recorder = new TarSplitRecorder(new MemoryStream());
        var file = new TarEntry { Name = path, Type = TarEntryType.Regular, Size = 1, StoredSize = 1 };

        Assert.Throws<ArgumentException>(() => recorder.Applied(file, path));
    }

    [Fact]
    public void Entries_without_data_need_no_file_in_the_layer()
    {
        var sidecar = new MemoryStream();
        using (var recorder = new TarSplitRecorder(sidecar, leaveOpen: true))
        {
            recorder.Applied(new TarEntry { Name = "./", Type = TarEntryType.Directory }, "");
            recorder.Applied(new TarEntry { Name = ".wh.gone", Type = TarEntryType.Regular }, ".wh.gone");
            recorder.Complete(EmptyDigest, 0);
        }

        using var empty = new TempDirectory();
        Assert.Empty(Replay(sidecar.ToArray(), empty.Path));
    }

    [Theory]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("sha256:e3b0")]
    [InlineData("sha256:z3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    public void A_digest_that_is_not_sha256_is_refused(string digest)
    {
        using var recorder = new TarSplitRecorder(new MemoryStream());

        Assert.Throws<ArgumentException>(() => recorder.Complete(digest, 0));
    }

    [Fact]
    public void Nothing_is_recorded_after_completion()
    {
        using var recorder = new TarSplitRecorder(new MemoryStream());
        recorder.Complete(EmptyDigest, 0);

        Assert.Throws<InvalidOperationException>(() => recorder.RawSink(new byte[512]));
        Assert.Throws<InvalidOperationException>(() => recorder.Complete(EmptyDigest, 0));
    }

    [Fact]
    public void The_output_is_closed_with_the_recorder_unless_left_open()
    {
        var owned = new MemoryStream();
        new TarSplitRecorder(owned).Dispose();
        Assert.False(owned.CanWrite);

        var kept = new MemoryStream();
        new TarSplitRecorder(kept, leaveOpen: true).Dispose();
        Assert.True(kept.CanWrite);
        Assert.True(kept.Length > 8);
    }
}
