using System.Management.Automation;
using LayerTools.Shell;

namespace LayerTools.Tests.Cmdlets;

/// <summary>
/// The real PowerShell engine in-process with LayerTools imported from the assembled manifest, a
/// temporary store in $r (a real directory on disk, initialized with the driver given) and a screen the test can read.
/// </summary>
public sealed class HostedEngine : IDisposable
{
    private readonly StringWriter _screen = new();
    private readonly ScriptRunner _runner;
    private readonly TempDirectory _directory = new();

    public HostedEngine(string driver = "vfs")
    {
        Host = new TextHost(_screen, width: 160);
        _runner = new ScriptRunner(Host);
        Root = _directory.Combine("store");
        Layout = new DriverLayout(driver, Root);
        Run($"Import-Module '{Manifest}' -ErrorAction Stop; $r = '{Root}'").ThrowOnError();
        Run($"Initialize-LayerStore -Root $r -Driver {driver}").ThrowOnError();
        _screen.GetStringBuilder().Clear();
    }

    public static string Manifest { get; } = Path.Combine(RepositoryRoot(), "LayerTools.psd1");

    public TextHost Host { get; }
    public string Root { get; }
    public string Driver => Layout.Driver;
    public DriverLayout Layout { get; }

    /// <summary>Everything rendered so far.</summary>
    public string Screen => _screen.ToString();

    /// <summary>Runs a script and returns its objects and errors.</summary>
    public ScriptResult Run(string script) => _runner.Invoke(script);

    /// <summary>Runs a script through Out-Default, as at a prompt, and returns what it printed.</summary>
    public string Render(string script)
    {
        int start = _screen.GetStringBuilder().Length;
        _runner.Invoke(script, render: true);
        return _screen.ToString()[start..];
    }

    public void Dispose()
    {
        // Leave no mount behind, whatever the test did, and no run directory (the store's mount counts) in /run.
        _runner.Invoke("Get-Layer -Root $r | Where-Object MountCount -gt 0 | Dismount-Layer -Force -Root $r");
        ScriptResult store = _runner.Invoke("Get-LayerStore -Root $r -ErrorAction SilentlyContinue");
        _runner.Dispose();
        _directory.Dispose();
        foreach (LayerStore described in store.Output.Select(o => o.BaseObject).OfType<LayerStore>())
            if (Directory.Exists(described.RunRoot)) Directory.Delete(described.RunRoot, recursive: true);
    }

    private static string RepositoryRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "LayerTools.psd1"))) return dir;
        throw new InvalidOperationException("LayerTools.psd1 not found above " + AppContext.BaseDirectory);
    }
}

public static class ScriptResultExtensions
{
    public static ScriptResult ThrowOnError(this ScriptResult result)
    {
        if (result.Terminating is not null) throw result.Terminating;
        if (result.Errors.Count > 0) throw new InvalidOperationException(string.Join("\n", result.Errors.Select(e => e.ToString())));
        return result;
    }

    public static T Single<T>(this ScriptResult result) => (T)result.ThrowOnError().Output.Single().BaseObject;

    public static ErrorRecord SingleError(this ScriptResult result) =>
        result.Terminating?.ErrorRecord ?? result.Errors.Single();
}
