using System.Text;
using LayerTools.Archive;
using Xunit;
using ZstdSharp;
using ZstdSharp.Unsafe;
using static LayerTools.Tests.TarSplit.TarSplitHarness;

namespace LayerTools.Tests.TarSplit;

/// <summary>A damaged, cut or foreign tar-split record is refused as such, never replayed and never taken for a changed layer.</summary>
public sealed class TarSplitCorruptionTests(TarSplitSourceTree tree) : IClassFixture<TarSplitSourceTree>, IDisposable
{
    private readonly TempDirectory _scratch = new();

    [Fact]
    public void A_flipped_byte_is_reported_as_damage_unless_it_changes_nothing()
    {
        string archive = tree.Archive("gnu");
        string expected = Sha256(File.ReadAllBytes(archive));
        byte[] sidecar = Record(archive);
        string layer = Extract(archive, _scratch);

        int refused = 0;
        for (int position = 0; position < sidecar.Length; position++)
        {
            byte[] damaged = (byte[])sidecar.Clone();
            damaged[position] ^= 0x20;
            // Some bits of a zstd frame are redundant (the window size, unused table bits): the content
            // checksum cannot see those flips, and they must replay exactly.
            try
            {
                Assert.Equal(expected, Sha256(Replay(damaged, layer)));
            }
            catch (InvalidDataException error)
            {
                Assert.StartsWith("The tar-split record is damaged", error.Message);
                refused++;
            }
        }
        Assert.True(refused > sidecar.Length * 9 / 10, $"only {refused} of {sidecar.Length} flips were noticed");
    }

    [Fact]
    public void A_record_cut_short_is_reported_as_damage()
    {
        string archive = tree.Archive("posix");
        byte[] sidecar = Record(archive);
        string layer = Extract(archive, _scratch);

        foreach (int length in new[] { 0, 5, 8, 9, sidecar.Length / 2, sidecar.Length - 1 })
        {
            var error = Assert.Throws<InvalidDataException>(() => Verify(sidecar[..length], layer));
            Assert.StartsWith("The tar-split record is damaged", error.Message);
        }
    }

    [Fact]
    public void Another_format_or_version_is_refused_by_its_signature()
    {
        byte[] sidecar = Record(tree.Archive("ustar"));

        byte[] foreign = (byte[])sidecar.Clone();
        foreign[0] = (byte)'X';
        Assert.Contains("signature", Assert.Throws<InvalidDataException>(() => Verify(foreign, _scratch.Path)).Message);

        byte[] newer = (byte[])sidecar.Clone();
        newer[7] = 2;
        Assert.Contains("format version 2", Assert.Throws<InvalidDataException>(() => Verify(newer, _scratch.Path)).Message);
    }

    [Fact]
    public void A_record_without_its_trailer_is_refused()
    {
        string archive = tree.Archive("gnu");
        var sidecar = new MemoryStream();
        using (var recorder = new TarSplitRecorder(sidecar, leaveOpen: true))
        using (var reader = new TarReader(File.OpenRead(archive), recorder.RawSink))
        {
            while (reader.Next() is { } entry) recorder.Applied(entry, Normalize(entry.Name));
        }

        var error = Assert.Throws<InvalidDataException>(() => Verify(sidecar.ToArray(), Extract(archive, _scratch)));
        Assert.Contains("did not finish", error.Message);
    }

    [Fact]
    public void Damage_that_decodes_into_a_missing_file_is_still_reported_as_damage()
    {
        byte[] records = [TarSplitFormat.Payload, 4, .. "nope"u8, 5, 5, 0];
        byte[] sidecar = Frame(records);
        sidecar[^1] ^= 0xFF; // the frame's checksum

        Assert.Throws<InvalidDataException>(() => Verify(sidecar, _scratch.Path));
        Assert.Throws<TarSplitMismatchException>(() => Replay(Frame(records), _scratch.Path));
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a/./b")]
    public void A_path_that_could_leave_the_layer_is_refused(string path)
    {
        byte[] name = Encoding.UTF8.GetBytes(path);
        byte[] sidecar = Frame([TarSplitFormat.Payload, (byte)name.Length, .. name, 5, 5, 0]);

        var error = Assert.Throws<InvalidDataException>(() => Verify(sidecar, _scratch.Path));
        Assert.Contains("not a plain path beneath the layer root", error.Message);
    }

    [Fact]
    public void Unknown_records_and_records_after_the_trailer_are_refused()
    {
        Assert.Contains("unknown type 0x51", Assert.Throws<InvalidDataException>(() => Verify(Frame([(byte)'Q']), _scratch.Path)).Message);

        byte[] trailer = [TarSplitFormat.End, 0, .. Convert.FromHexString("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")];
        Assert.True(Verify(Frame(trailer), _scratch.Path));
        Assert.Contains("follow its trailer", Assert.Throws<InvalidDataException>(() => Verify(Frame([.. trailer, TarSplitFormat.Raw, 0]), _scratch.Path)).Message);
    }

    [Fact]
    public void A_sparse_map_that_contradicts_the_stored_size_is_refused()
    {
        // Segments (0, 10) and (10, 10) hold 20 bytes, but the entry claims to store 15.
        byte[] sidecar = Frame([TarSplitFormat.Payload, 1, (byte)'f', 100, 15, 2, 0, 10, 0, 10]);

        Assert.Contains("sparse map of 'f' does not hold", Assert.Throws<InvalidDataException>(() => Verify(sidecar, _scratch.Path)).Message);
    }

    /// <summary>A well-formed record file holding exactly <paramref name="records"/>.</summary>
    private static byte[] Frame(byte[] records)
    {
        var output = new MemoryStream();
        output.Write([.. TarSplitFormat.Magic, TarSplitFormat.Version]);
        using (var zstd = new CompressionStream(output, 3, leaveOpen: true))
        {
            zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            zstd.Write(records);
        }
        return output.ToArray();
    }

    public void Dispose() => _scratch.Dispose();
}
