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

    [Theory]
    [InlineData("vfs")]
    [InlineData("overlay")]
    public void Two_processes_creating_50_layers_each_at_once_record_exactly_100(string driver)
    {
        const int PerProcess = 50;
        using var s = new ScratchStore(driver);
        // Initialized here: racing to initialize is a test of its own. Each writer pauses a few ms between
        // layers: without it the lock holder tends to win every retry of the waiter's polling and the two
        // batches barely interleave.
        s.Open();
        string[] prefixes = ["p1", "p2"];

        RunAtOnce(s, prefixes.Select(prefix =>
            $"foreach ($i in 1..{PerProcess}) {{ $null = New-Layer -Root $r -Name \"{prefix}-$i\"; [Threading.Thread]::Sleep([Random]::Shared.Next(10)) }}").ToArray());

        StoreEngine store = s.Open();
        IReadOnlyList<Layer> layers = store.List();
        var expected = prefixes.SelectMany(prefix => Enumerable.Range(1, PerProcess).Select(i => $"{prefix}-{i}")).Order().ToList();
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

    [Theory]
    [InlineData("", "overlay")]
    [InlineData("-Driver vfs", "vfs")]
    [InlineData("-Driver overlay", "overlay")]
    public void Two_processes_initializing_the_same_new_stores_at_once_both_succeed(string driverArgument, string expectedDriver)
    {
        const int Stores = 40;
        using var s = new ScratchStore();

        // Both start on each new root at one moment, 100 ms apart, timed from the start signal: if they just went on
        // one after another, the store lock would soon keep them a step apart and they would seldom meet again.
        string script = $"$signal = [IO.File]::GetLastWriteTimeUtc({ShellProcess.Quote(StartSignal(s))}); " +
            $"foreach ($i in 1..{Stores}) {{ $at = $signal.AddMilliseconds(100 * $i); while ([DateTime]::UtcNow -lt $at) {{ }}; " +
            $"$null = Initialize-LayerStore -Root \"$r-$i\" {driverArgument} }}";
        RunAtOnce(s, script, script);

        foreach (string root in Enumerable.Range(1, Stores).Select(i => $"{s.Root}-{i}"))
        {
            StoreEngine store = StoreEngine.OpenExisting(s.OptionsAt(root)) ?? throw new InvalidOperationException($"no store was made at {root}");
            Assert.Equal(expectedDriver, store.Driver.Name);
            // Nothing of either process's check is left: a probe directory would show up as a layer.
            Assert.Empty(new DriverLayout(expectedDriver, root).LayerIds());
        }
    }

    // vfs only: an overlay child copies nothing, so there is no copy to kill half-way.
    [Fact]
    public void A_process_killed_in_the_middle_of_New_Layer_leaves_a_store_the_next_command_repairs()
    {
        using var s = new ScratchStore("vfs");
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

    [Theory]
    [InlineData("vfs")]
    [InlineData("overlay")]
    public void A_process_killed_while_Initialize_Force_wipes_the_store_leaves_no_layer_with_a_half_removed_tree(string driver)
    {
        const int Files = 20_000;
        using var s = new ScratchStore(driver);
        StoreEngine before = s.Open();
        Layer big = before.Create(new LayerSpec { Names = ["big"] });
        before.Create(new LayerSpec { Names = ["small"] });
        string bigTree = s.TreeOf(big.Id);
        AddFiles(bigTree, 0, Files);
        int topLevel = Directory.EnumerateFileSystemEntries(bigTree).Count();

        using (ShellProcess shell = ShellProcess.Start($"$null = Initialize-LayerStore -Root $r -Driver {driver} -Force", s.Root, s.RunRoot))
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

    /// <summary>
    /// Runs each script in a shell of its own on the scratch store's root, all let go at one moment once every
    /// shell has imported the module, and checks that each finished without an error.
    /// </summary>
    private void RunAtOnce(ScratchStore s, params string[] scripts)
    {
        string go = StartSignal(s);
        var shells = scripts.Select((script, i) =>
        {
            string ready = Path.Combine(s.Location, $"shell{i + 1}.ready");
            return (Name: $"shell {i + 1}", Ready: ready, Process: ShellProcess.Start(
                $"[IO.File]::WriteAllText({ShellProcess.Quote(ready)}, ''); " +
                $"while (-not [IO.File]::Exists({ShellProcess.Quote(go)})) {{ [Threading.Thread]::Sleep(5) }}; " +
                $"{script}; 'finished'",
                s.Root, s.RunRoot));
        }).ToList();
        try
        {
            var clock = Stopwatch.StartNew();
            while (!shells.All(shell => File.Exists(shell.Ready)))
            {
                foreach (var shell in shells)
                    Assert.False(shell.Process.HasExited, $"{shell.Name} exited before it was ready:\n{shell.Process.Output}");
                Assert.True(clock.Elapsed < ProcessTimeout, "the shells did not start in time:\n" + string.Join("\n", shells.Select(shell => shell.Process.Output)));
                Thread.Sleep(10);
            }
            File.WriteAllText(go, "");
            clock.Restart();

            foreach (var shell in shells)
            {
                int exitCode = shell.Process.WaitForExit(ProcessTimeout);
                Assert.True(exitCode == 0, $"{shell.Name} exited with {exitCode}:\n{shell.Process.Output}");
                Assert.DoesNotContain("err:", shell.Process.Output);
                Assert.Contains("finished", shell.Process.Output);
            }
            output.WriteLine($"the {shells.Count} processes finished {clock.Elapsed.TotalSeconds:0.0} s after the start signal");
        }
        finally
        {
            foreach (var shell in shells) shell.Process.Dispose();
        }
    }

    /// <summary>The file whose appearance lets the shells of <see cref="RunAtOnce"/> go.</summary>
    private static string StartSignal(ScratchStore s) => Path.Combine(s.Location, "go");

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
