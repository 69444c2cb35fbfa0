using System.Reflection;
using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace LayerTools.Commands;

/// <summary>
/// Tmds.LibC ships one implementation per architecture (runtimes/linux-ARCH/lib/...), which PowerShell's
/// module loader does not probe. Resolve it from module/bin/runtimes for the architecture we run on.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveFromRuntimes;

    private static Assembly? ResolveFromRuntimes(AssemblyLoadContext context, AssemblyName name)
    {
        if (name.Name != "Tmds.LibC") return null;
        string architecture = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "linux-x64",
            Architecture.Arm64 => "linux-arm64",
            Architecture.Arm => "linux-arm",
            var other => throw new PlatformNotSupportedException($"LayerTools has no Tmds.LibC build for {other}."),
        };
        string bin = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;
        string file = Path.Combine(bin, "runtimes", architecture, "lib", "netstandard2.0", "Tmds.LibC.dll");
        return File.Exists(file) ? context.LoadFromAssemblyPath(file) : null;
    }
}
