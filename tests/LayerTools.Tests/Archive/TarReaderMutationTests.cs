using System.Diagnostics;
using LayerTools.Archive;
using Xunit;
using Xunit.Abstractions;

namespace LayerTools.Tests.Archive;

/// <summary>
/// Valid archives with random bytes flipped, inserted or deleted: reading each one through must either
/// succeed (and then the raw-hook invariant still holds) or fail with ArchiveCorruptException, never with
/// anything else.
/// </summary>
public sealed class TarReaderMutationTests : IClassFixture<ArchiveSourceTree>
{
    /// <summary>
    /// How hard to try: mutations in all, and the wall-clock time after which the test stops early.
    /// LAYERTOOLS_FUZZ_SECONDS turns it into a timed run (CI gives it minutes); the seed makes any failure replayable.
    /// </summary>
    private static readonly (int Mutations, TimeSpan TimeBudget) Effort =
        int.TryParse(Environment.GetEnvironmentVariable("LAYERTOOLS_FUZZ_SECONDS"), out int seconds) && seconds > 0
            ? (int.MaxValue, TimeSpan.FromSeconds(seconds))
            : (10_000, TimeSpan.FromSeconds(10));

    private const int Seed = 20_240_601;

    private readonly ArchiveSourceTree _tree;
    private readonly ITestOutputHelper _output;

    public TarReaderMutationTests(ArchiveSourceTree tree, ITestOutputHelper output)
    {
        _tree = tree;
        _output = output;
    }

    [Fact]
    public void Mutated_archives_fail_only_as_corrupt()
    {
        var corpus = new List<(string Name, byte[] Bytes, bool Compressed)>
        {
            ("gnu", File.ReadAllBytes(_tree.Archive("gnu")), false),
            ("posix", File.ReadAllBytes(_tree.Archive("posix")), false),
            ("ustar", File.ReadAllBytes(_tree.Archive("ustar")), false),
            ("sparse-gnu", File.ReadAllBytes(_tree.SparseArchive("gnu")), false),
            ("sparse-0.1", File.ReadAllBytes(_tree.SparseArchive("0.1")), false),
            ("sparse-1.0", File.ReadAllBytes(_tree.SparseArchive("1.0")), false),
            ("posix.gz", ExternalTool.Run("gzip", "-c", _tree.Archive("posix")), true),
            ("posix.zst", ExternalTool.Run("zstd", "-c", _tree.Archive("posix")), true),
            ("posix.bz2", ExternalTool.Run("bzip2", "-c", _tree.Archive("posix")), true),
        };
        // Where each archive's headers, extension data and sparse maps lie: the bytes worth damaging most.
        var rawOffsets = corpus.Select(c => c.Compressed ? [] : RawOffsets(c.Bytes)).ToList();
        var random = new Random(Seed);
        var clock = Stopwatch.StartNew();
        int done = 0, corrupt = 0;

        for (; done < Effort.Mutations && clock.Elapsed < Effort.TimeBudget; done++)
        {
            var (name, original, compressed) = corpus[done % corpus.Count];
            var (mutated, how) = Mutate(original, rawOffsets[done % corpus.Count], random);
            try
            {
                if (compressed)
                {
                    using Stream decoded = Compression.OpenRead(new MemoryStream(mutated), out _);
                    TarContents.ReadThrough(decoded);
                }
                else if (done % 2 == 0)
                {
                    TarContents.ReadThrough(new MemoryStream(mutated));
                }
                else
                {
                    // Whatever the reader accepts, its raw bytes and payload must still add up to the input.
                    Assert.True(TarContents.Reassemble(mutated).AsSpan().SequenceEqual(mutated), $"mutation {done} of {name} ({how}): raw + payload differs from the input");
                }
            }
            catch (ArchiveCorruptException)
            {
                corrupt++;
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"mutation {done} of {name} ({how}), seed {Seed}: {e.GetType().Name} escaped instead of ArchiveCorruptException: {e}");
            }
        }

        _output.WriteLine($"{done} mutations in {clock.Elapsed.TotalSeconds:0.0} s, {corrupt} refused as corrupt");
        Assert.True(done >= 500, $"only {done} mutations ran within the time budget");
        Assert.InRange(corrupt, done / 10, done - done / 20);
    }

    /// <summary>Offsets of every byte the reader reports as raw (not payload).</summary>
    private static int[] RawOffsets(byte[] archive)
    {
        var offsets = new List<int>();
        TarReader? reader = null;
        reader = new TarReader(new MemoryStream(archive), bytes =>
        {
            // The reader has consumed the bytes by the time it reports them.
            int end = (int)reader!.Position;
            offsets.AddRange(Enumerable.Range(end - bytes.Length, bytes.Length));
        });
        using (reader)
            while (reader.Next() is not null) { }
        return [.. offsets];
    }

    /// <summary>One random damage; half of them hit raw bytes (headers, extension data, sparse maps), when the archive's are known.</summary>
    private static (byte[] Bytes, string How) Mutate(byte[] original, int[] rawOffsets, Random random)
    {
        var bytes = new List<byte>(original);
        int at = rawOffsets.Length > 0 && random.Next(2) == 0 ? rawOffsets[random.Next(rawOffsets.Length)] : random.Next(bytes.Count);
        switch (random.Next(7))
        {
            case 0:
                bytes[at] ^= (byte)(1 << random.Next(8));
                return ([.. bytes], $"bit flip at {at}");
            case 1:
                bytes[at] = (byte)random.Next(256);
                return ([.. bytes], $"byte set at {at}");
            case 2:
                byte[] inserted = new byte[random.Next(1, 17)];
                random.NextBytes(inserted);
                bytes.InsertRange(at, inserted);
                return ([.. bytes], $"{inserted.Length} bytes inserted at {at}");
            case 3:
                int removed = Math.Min(random.Next(1, 65), bytes.Count - at);
                bytes.RemoveRange(at, removed);
                return ([.. bytes], $"{removed} bytes deleted at {at}");
            case 4:
                return ([.. bytes.Take(at)], $"truncated at {at}");
            case 5:
                int boundary = at / 512 * 512;
                bytes.InsertRange(boundary, new byte[512]);
                return ([.. bytes], $"zero block inserted at {boundary}");
            default:
                // A digit in a numeric or PAX field: mutations the checksum does not always catch.
                bytes[at] = (byte)('0' + random.Next(10));
                return ([.. bytes], $"digit set at {at}");
        }
    }
}
