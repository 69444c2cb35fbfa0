using System.Diagnostics;
using Xunit;

namespace LayerTools.Tests.Cmdlets;

/// <summary>
/// The module as users load it: a separate process whose host knows nothing of LayerTools, so the
/// module must find its own dependencies (Tmds.LibC under module/bin/runtimes) through the manifest.
/// </summary>
public sealed class ModuleLoadTests
{
    [Fact]
    public void TheManifestLoadsInAHostThatHasNoLayerToolsDependencies()
    {
        string shell = Path.Combine(AppContext.BaseDirectory, "LayerTools.Shell.dll");
        string shellDeps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "LayerTools.Shell.deps.json"));
        Assert.DoesNotContain("Tmds.LibC", shellDeps);

        using var store = new TempDirectory();
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                shell, "-Command",
                $"Import-Module '{HostedEngine.Manifest}'; $s = Initialize-LayerStore -Root '{store.Combine("s")}' -Driver vfs; " +
                "\"driver=$($s.Driver) fs=$($s.BackingFilesystem) commands=$((Get-Command -Module LayerTools).Count)\"",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string errors = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "the shell did not finish within a minute");

        Assert.Equal(0, process.ExitCode);
        Assert.Equal("", errors);
        Assert.Equal("driver=vfs fs=ext4 commands=12", output.Trim());
    }
}
