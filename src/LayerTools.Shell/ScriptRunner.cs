using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace LayerTools.Shell;

/// <summary>Runs PowerShell script text in a fresh runspace on a <see cref="TextHost"/>, rendering it as pwsh would.</summary>
public sealed class ScriptRunner : IDisposable
{
    private readonly Runspace _runspace;

    public ScriptRunner(TextHost host)
    {
        Host = host;
        _runspace = RunspaceFactory.CreateRunspace(host, InitialSessionState.CreateDefault2());
        _runspace.Open();
        // Plain text: what the tests compare and what a log file should hold.
        Invoke("$PSStyle.OutputRendering = 'PlainText'", render: false);
    }

    public TextHost Host { get; }

    /// <summary>
    /// Runs the script. With <paramref name="render"/>, output and errors go through Out-Default to the host
    /// (as at a prompt) and nothing is returned; without, the objects are returned and errors collected.
    /// </summary>
    public ScriptResult Invoke(string script, bool render = false)
    {
        using var shell = PowerShell.Create(_runspace);
        shell.AddScript(script);
        if (render)
        {
            shell.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
            shell.AddCommand("Out-Default");
        }
        try
        {
            var output = shell.Invoke();
            return new ScriptResult(output, shell.Streams.Error.ToList(), shell.Streams.Warning.Select(w => w.Message).ToList(), shell.HadErrors, null);
        }
        catch (RuntimeException e)
        {
            if (render) Host.UI.WriteErrorLine(e.ErrorRecord.ToString());
            return new ScriptResult([], shell.Streams.Error.ToList(), shell.Streams.Warning.Select(w => w.Message).ToList(), true, e);
        }
    }

    public void Dispose() => _runspace.Dispose();
}

/// <summary>What a script produced: objects, errors (non-terminating), warnings, and a terminating error if any.</summary>
public sealed record ScriptResult(
    IReadOnlyList<PSObject> Output,
    IReadOnlyList<ErrorRecord> Errors,
    IReadOnlyList<string> Warnings,
    bool HadErrors,
    RuntimeException? Terminating);
