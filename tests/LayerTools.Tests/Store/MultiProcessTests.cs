using System.Diagnostics;
using System.Text.Json.Nodes;
using LayerTools.Native;
using LayerTools.Store;
using Xunit;
using Xunit.Abstractions;
using static Tmds.Linux.LibC;

namespace LayerTools.Tests.Store;

/// <summary>The store shared by real separate processes: the lock, atomic metadata and crash recovery.</summary>
public sealed class MultiProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(45);

    [Fact]
    public void Two_processes_creating_50_layers_each_at_once_record_exactly_100()
    {
        const int PerProcess = 50;
        // New-Layer initializes the store with the default driver, overlay on this host.
        using var s = new ScratchStore("overlay");
        string go = Path.Combine(s.Location, "go");
        // Left uninitialized on purpose: both processes race to initialize the store as well. Each writer
        // pauses a few ms between layers: without it the lock holder tends to win every retry of the
        // waiter's polling and the two batches barely interleave.
        var writers = new[] { "p1", "p2" }.Select(prefix =>
        {
            string ready = Path.Combine(s.Location, prefix + ".ready");
            return (Prefix: prefix, Ready: ready, Shell: ShellProcess.Start(
                $"[IO.File]::WriteAllText({ShellProcess.Quote(ready)}, ''); " +
                $"while (-not [IO.File]::Exists({ShellProcess.Quote(go)})) {{ [Threading.Thread]::Sleep(5) }}; " +
                $"foreach ($i in 1..{PerProcess}) {{ $null = New-Layer -Root $r -Name \"{prefix}-$i\"; [Threading.Thread]::Sleep([Random]::Shared.Next(10)) }}; 'finished'",
                s.Root, s.RunRoot));
        }).ToList();
        try
        {
            // Both shells are started and have imported the module before either may begin.
            var clock = Stopwatch.StartNew();
            while (!writers.All(w => File.Exists(w.Ready)))
            {
                foreach (var w in writers)
                    Assert.False(w.Shell.HasExited, $"{w.Prefix} exited before it was ready:\n{w.Shell.Output}");
                Assert.True(clock.Elapsed < ProcessTimeout, "the shells did not start in time:\n" + string.Join("\n", writers.Select(w => w.Shell.Output)));
                Thread.Sleep(10);
            }
            File.WriteAllText(go, "");

            foreach (var w in writers)
            {
                int exitCode = w.Shell.WaitForExit(ProcessTimeout);
                Assert.True(exitCode == 0, $"{w.Prefix} exited with {exitCode}:\n{w.Shell.Output}");
                Assert.DoesNotContain("err:", w.Shell.Output);
                Assert.Contains("finished", w.Shell.Output);
            }
            output.WriteLine($"both processes finished {clock.Elapsed.TotalSeconds:0.0} s after the start signal");
        }
        finally
        {
            foreach (var w in writers) w.Shell.Dispose();
        }

        StoreEngine store = StoreEngine.OpenExisting(s.Options) ?? throw new InvalidOperationException("the store was never initialized");
        IReadOnlyList<Layer> layers = store.List();
        var expected = writers.SelectMany(w => Enumerable.Range(1, PerProcess).Select(i => $"{w.Prefix}-{i}")).Order().ToList();
        Assert.Equal(expected, layers.SelectMany(l => l.Names).Order().ToList());
        Assert.All(layers, l => Assert.Single(l.Names));
        Assert.Equal(2 * PerProcess, layers.Select(l => l.Id).Distinct().Count());
        Assert.Equal(layers.Select(l => l.Id).Order(), s.TreeIds());
        Assert.Equal(2 * PerProcess, store.Describe().LayerCount);
        JsonArray records = s.LayerRecords();
        Assert.Equal(2 * PerProcess, records.Count);
        Assert.All(records, r => Assert.False((bool)r!["incomplete"]!));
        s.AssertMetadataIntact();
        Assert.Empty(s.Warnings);

        // A writer that wrote before and after the other did re-read the metadata under the lock each time.
        var order = records.Select(r => ((string)r!["names"]![0]!)[..2]).ToList();
        int switches = order.Zip(order.Skip(1)).Count(p => p.First != p.Second);
        output.WriteLine($"the writer changed {switches} times in {order.Count} records: {string.Concat(order.Select(o => o[1]))}");
        Assert.True(switches >= 2, $"the two processes never interleaved ({switches} changes of writer), so the test proved nothing");
    }

    [Fact]
    public void A_process_killed_in_the_middle_of_New_Layer_leaves_a_store_the_next_command_repairs()
    {
        using var s = new ScratchStore();
        Layer parent = s.Open().Create(new LayerSpec { Names = ["base"] });
        string baseTree = s.TreeOf(parent.Id);
        int files = 0;
        string? childId = null;

        for (int attempt = 1; childId is null; attempt++)
        {
            // Big enough that copying it takes a while; doubled whenever the copy beat the kill.
            int wanted = 20_000 << (attempt - 1);
            AddFiles(baseTree, files, wanted);
            files = wanted;

            TimeSpan copyStartedAfter;
            using (ShellProcess shell = ShellProcess.Start("$null = New-Layer -Root $r -Name child -Parent base", s.Root, s.RunRoot))
            {
                var clock = Stopwatch.StartNew();
                while (!s.TreeIds().Any(id => id != parent.Id))
                {
                    if (shell.HasExited || clock.Elapsed > ProcessTimeout)
                    {
                        string state = shell.HasExited ? "exited" : "timed out";
                        Assert.Fail($"New-Layer {state} before its copy was seen to start ({files} files):\n{shell.Output}");
                    }
                    Thread.Sleep(1);
                }
                copyStartedAfter = clock.Elapsed;
                shell.Kill();
            }

            JsonNode? record = s.LayerRecords().SingleOrDefault(r => r!["names"]!.AsArray().Any(n => (string?)n == "child"));
            Assert.True(record is not null, "a child tree appeared but no record of it was written first: " + string.Join(", ", s.TreeIds()));
            if ((bool)record["incomplete"]!)
            {
                childId = (string)record["id"]!;
                output.WriteLine($"attempt {attempt}: killed New-Layer {copyStartedAfter.TotalSeconds:0.00} s after start, mid-copy of {files} files");
                break;
            }
            output.WriteLine($"attempt {attempt}: the copy of {files} files finished before the kill; retrying with more");
            Assert.True(attempt < 3, $"New-Layer copied {files} files before it could be killed, three times; the test cannot catch it mid-copy on this machine.");
            s.Open().Remove("child", force: true, recurse: false);
        }

        Assert.True(Directory.Exists(s.TreeOf(childId)), "the killed copy left no tree, so the test proves nothing");
        var warnings = new List<string>();
        var options = new StoreOptions
        {
            Root = s.Root,
            RunRoot = s.RunRoot,
            LockTimeout = TimeSpan.FromSeconds(10),
            Warning = warnings.Add,
        };
        StoreEngine store = StoreEngine.Open(options);

        // Readers already ignore the half-made layer; the next writer removes it.
        Assert.DoesNotContain(store.List(), l => l.Names.Contains("child"));
        Layer after = store.Create(new LayerSpec { Names = ["after"] });

        string warning = Assert.Single(warnings);
        Assert.Contains(childId, warning);
        Assert.Contains("interrupted", warning);
        Assert.Equal(["after", "base"], store.List().SelectMany(l => l.Names).Order());
        Assert.Equal(new[] { parent.Id, after.Id }.Order(), s.TreeIds());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(s.Root, "vfs", "mnt")));
        Assert.DoesNotContain(s.LayerRecords(), r => (bool)r!["incomplete"]!);
        s.AssertMetadataIntact();
        Assert.Equal(files, Directory.EnumerateFiles(baseTree, "*", SearchOption.AllDirectories).Count());

        // The name is free again, and the repair was done once.
        Assert.Equal(["child"], store.Create(new LayerSpec { Names = ["child"] }).Names);
        Assert.Single(warnings);
    }

    [Fact]
    public void A_process_killed_while_Initialize_Force_wipes_the_store_leaves_no_layer_with_a_half_removed_tree()
    {
        const int Files = 20_000;
        using var s = new ScratchStore();
        StoreEngine before = s.Open();
        Layer big = before.Create(new LayerSpec { Names = ["big"] });
        before.Create(new LayerSpec { Names = ["small"] });
        string bigTree = s.TreeOf(big.Id);
        AddFiles(bigTree, 0, Files);
        int topLevel = Directory.EnumerateFileSystemEntries(bigTree).Count();

        using (ShellProcess shell = ShellProcess.Start("$null = Initialize-LayerStore -Root $r -Force", s.Root, s.RunRoot))
        {
            var clock = Stopwatch.StartNew();
            while (Directory.Exists(bigTree) && Directory.EnumerateFileSystemEntries(bigTree).Count() == topLevel)
            {
                Assert.False(shell.HasExited, $"Initialize-LayerStore -Force exited before it was seen removing anything:\n{shell.Output}");
                Assert.True(clock.Elapsed < ProcessTimeout, $"Initialize-LayerStore -Force removed nothing within {ProcessTimeout.TotalSeconds:0} s:\n{shell.Output}");
                Thread.Sleep(1);
            }
            shell.Kill();
        }
        Assert.True(Directory.Exists(bigTree), $"the removal of {Files} files finished before the kill; the test cannot catch it mid-way on this machine");
        output.WriteLine($"killed with {Directory.EnumerateFiles(bigTree, "*", SearchOption.AllDirectories).Count()} of {Files} files left");

        var warnings = new List<string>();
        StoreEngine store = StoreEngine.Open(new StoreOptions { Root = s.Root, RunRoot = s.RunRoot, LockTimeout = TimeSpan.FromSeconds(10), Warning = warnings.Add });
        store.Create(new LayerSpec { Names = ["after"] });
        output.WriteLine("warnings: " + string.Join(" | ", warnings));

        // Whatever the store still lists must be whole: a layer is either there with its tree, or gone.
        foreach (Layer layer in store.List())
        {
            Assert.True(Directory.Exists(s.TreeOf(layer.Id)), $"layer {string.Join(",", layer.Names)} is listed but its tree is gone");
            if (layer.Id == big.Id)
                Assert.Equal(Files, Directory.EnumerateFiles(bigTree, "*", SearchOption.AllDirectories).Count());
        }
        Assert.Equal(store.List().Select(l => l.Id).Order(), s.TreeIds());
        s.AssertMetadataIntact();
    }

    /// <summary>Adds empty files number <paramref name="from"/> up to <paramref name="to"/> to a tree, a hundred to a directory.</summary>
    private static void AddFiles(string tree, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            string directory = Path.Combine(tree, $"d{i / 100:D4}");
            if (i % 100 == 0 || i == from) Directory.CreateDirectory(directory);
            // Plain open/close: FileStream's locking and preallocation make it several times slower here.
            Fs.Close(Fs.Open(Path.Combine(directory, $"f{i:D6}"), O_WRONLY | O_CREAT | O_EXCL, 0x1A4 /* 0644 */));
        }
    }
}
