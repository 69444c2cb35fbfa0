using LayerTools.Shell;

// Usage: LayerTools.Shell SCRIPT.ps1   or   LayerTools.Shell -Command "TEXT". Exits 1 if an error reached the screen.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: LayerTools.Shell <script.ps1> | -Command <text>");
    return 2;
}
string script = args[0] == "-Command"
    ? string.Join(' ', args.Skip(1))
    : $"& '{Path.GetFullPath(args[0]).Replace("'", "''")}'";

var host = new TextHost(Console.Out, width: Console.IsOutputRedirected ? 120 : Math.Max(80, Console.WindowWidth));
using var runner = new ScriptRunner(host);
ScriptResult result = runner.Invoke(script, render: true);
return host.ExitCode ?? (result.Terminating is not null || host.ErrorLines > 0 ? 1 : 0);
