using System.Diagnostics;

namespace LayerTools.Tests.Archive;

/// <summary>Runs the reference tools (GNU tar, gzip, zstd, bzip2) the codec is checked against.</summary>
public static class ExternalTool
{
    /// <summary>Runs <paramref name="program"/> and returns its stdout as bytes; a non-zero exit fails the test with stderr.</summary>
    public static byte[] Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // GNU tar prints dates and names per locale; the tests parse its output.
        start.Environment["LC_ALL"] = "C.UTF-8";
        start.Environment["TZ"] = "UTC";
        start.Environment.Remove("TAR_OPTIONS");

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = new MemoryStream();
        Task copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        string stderr = process.StandardError.ReadToEnd();
        copy.Wait();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new Xunit.Sdk.XunitException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{stderr}");
        return stdout.ToArray();
    }

    public static string RunText(string program, params string[] arguments) =>
        System.Text.Encoding.UTF8.GetString(Run(program, arguments));
}
