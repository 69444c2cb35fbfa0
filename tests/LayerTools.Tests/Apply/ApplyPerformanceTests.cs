using System.Diagnostics;
using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Tests.Archive;
using Xunit;

namespace LayerTools.Tests.Apply;

/// <summary>
/// A rootfs-sized run of small files, timed next to GNU tar -x on the same archive (printed, not asserted:
/// see the output with --logger "console;verbosity=detailed"); the two extracted trees must be identical.
/// </summary>
public sealed class ApplyPerformanceTests
{
    private const int Directories = 50;
    private const int FilesPerDirectory = 100;

    [Fact]
    public void FiveThousandSmallFilesApplyLikeGnuTarExtracts()
    {
        using var temp = new TempDirectory();
        string archive = temp.Combine("small-files.tar");
        WriteArchive(archive);

        string ours = temp.Combine("applied");
        Directory.CreateDirectory(ours);
        var progress = new List<WorkProgress>();
        var clock = Stopwatch.StartNew();
        ApplyResult result;
        using (var reader = new TarReader(File.OpenRead(archive)))
            result = ChangesetApplier.Apply(reader, ours, progress.Add);
        TimeSpan applyTime = clock.Elapsed;

        string theirs = temp.Combine("gnu-tar");
        Directory.CreateDirectory(theirs);
        clock.Restart();
        ExternalTool.Run("tar", "--numeric-owner", "-xpf", archive, "-C", theirs);
        TimeSpan tarTime = clock.Elapsed;

        Console.WriteLine($"Applied {result.Entries} entries ({result.PayloadBytes} payload bytes) in {applyTime.TotalMilliseconds:F0} ms; GNU tar -x took {tarTime.TotalMilliseconds:F0} ms.");
        Assert.Equal(3 + Directories * (1 + FilesPerDirectory), result.Entries);
        Assert.Equal((int)(result.Entries / 100), progress.Count);
        Assert.All(progress, p => Assert.Equal("Applying layer", p.Activity));
        Assert.True(progress[^1].Done > progress[0].Done);
        Assert.Empty(TreeSnapshot.Take(ours).DifferencesFrom(TreeSnapshot.Take(theirs)));
    }

    private static void WriteArchive(string path)
    {
        var random = new Random(1234);
        var time = new Timestamp(1_690_000_000, 0);
        using var writer = new TarWriter(File.Create(path));
        foreach (string parent in new[] { "./", "usr", "usr/share" })
            writer.WriteEntry(new TarEntry { Name = parent, Type = TarEntryType.Directory, Mode = 0x1ED, Mtime = time });
        for (int d = 0; d < Directories; d++)
        {
            string directory = $"usr/share/pkg{d:D2}";
            writer.WriteEntry(new TarEntry { Name = directory, Type = TarEntryType.Directory, Mode = 0x1ED, Mtime = time });
            for (int f = 0; f < FilesPerDirectory; f++)
            {
                byte[] content = new byte[random.Next(100, 4000)];
                random.NextBytes(content);
                writer.WriteEntry(new TarEntry
                {
                    Name = $"{directory}/file{f:D3}.dat",
                    Type = TarEntryType.Regular,
                    Mode = f % 7 == 0 ? 0x1ED : 0x1A4u,
                    Uid = (uint)(f % 3),
                    Gid = (uint)(f % 5),
                    Size = content.Length,
                    Mtime = new Timestamp(time.Seconds + f, (uint)f * 1000),
                }, new MemoryStream(content));
            }
        }
        writer.Finish();
    }
}
