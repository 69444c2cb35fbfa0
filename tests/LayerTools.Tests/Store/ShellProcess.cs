using System.Diagnostics;
using System.Text;
using LayerTools.Tests.Cmdlets;

namespace LayerTools.Tests.Store;

/// <summary>
/// A separate process running a script through LayerTools.Shell with the module imported, as another
/// user's pwsh would: its own runtime, its own store engine, its own file descriptors and lock.
/// </summary>
public sealed class ShellProcess : IDisposable
{
    private static readonly string ShellAssembly = Path.Combine(AppContext.BaseDirectory, "LayerTools.Shell.dll");

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ShellProcess(Process process) => _process = process;

    /// <summary>Starts <paramref name="script"/> after importing LayerTools and setting $r to <paramref name="root"/>; any error stops it.</summary>
    public static ShellProcess Start(string script, string root, string runRoot)
    {
        if (!File.Exists(ShellAssembly))
            throw new FileNotFoundException($"LayerTools.Shell.dll is not next to the tests ({ShellAssembly}); the test project must reference the Shell project.", ShellAssembly);
        string preamble = $"$ErrorActionPreference = 'Stop'; Import-Module {Quote(HostedEngine.Manifest)}; $r = {Quote(root)}; ";
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ShellAssembly);
        start.ArgumentList.Add("-Command");
        start.ArgumentList.Add(preamble + script);
        // Mount counts go to the test's own run root, never to the machine's /run/layertools.
        start.Environment["LAYERTOOLS_RUNROOT"] = runRoot;
        start.Environment.Remove("LAYERTOOLS_ROOT");

        var process = new Process { StartInfo = start };
        var shell = new ShellProcess(process);
        process.OutputDataReceived += (_, e) => shell.Append("out", e.Data);
        process.ErrorDataReceived += (_, e) => shell.Append("err", e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return shell;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the process printed so far, each line tagged out: or err:.</summary>
    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>Waits for the exit code; a process still running after <paramref name="timeout"/> is killed and reported.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Kill();
            throw new TimeoutException($"The shell process did not finish within {timeout.TotalSeconds:0} s. Its output:\n{Output}");
        }
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, as the OOM killer or a power cut would: no finally block, no flush.</summary>
    public void Kill()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        RemoveRuntimeFiles(_process.Id);
    }

    /// <summary>The pipes and sockets the .NET runtime and PowerShell keep in /tmp for a process, which a killed one cannot remove.</summary>
    private static void RemoveRuntimeFiles(int pid)
    {
        foreach (string pattern in new[] { $"clr-debug-pipe-{pid}-*", $"dotnet-diagnostic-{pid}-*", $"CoreFxPipe_PSHost.*.{pid}.*" })
            foreach (string file in Directory.EnumerateFiles(Path.GetTempPath(), pattern))
                File.Delete(file);
    }

    public void Dispose()
    {
        try { Kill(); }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    private void Append(string stream, string? line)
    {
        if (line is null) return;
        lock (_output) _output.Append(stream).Append(": ").AppendLine(line);
    }

    /// <summary>A PowerShell single-quoted string literal.</summary>
    public static string Quote(string text) => "'" + text.Replace("'", "''") + "'";

    /// <summary>The dotnet host running these tests, so the shell gets the same runtime.</summary>
    private static string DotnetHost()
    {
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
    }
}
