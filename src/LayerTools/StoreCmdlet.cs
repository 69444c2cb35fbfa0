using System.Diagnostics;
using System.Management.Automation;
using LayerTools.Archive;
using LayerTools.Native;
using LayerTools.Store;

namespace LayerTools.Commands;

/// <summary>What every LayerTools cmdlet shares: -Root, opening the store, progress and error mapping.</summary>
public abstract class StoreCmdlet : PSCmdlet
{
    private StoreEngine? _store;
    private ProgressReporter? _progress;

    /// <summary>The store directory. Binds from a piped layer's Root, so layers find their own store.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Root { get; set; } = StoreOptions.DefaultRoot;

    protected string RootPath => GetUnresolvedProviderPathFromPSPath(Root);

    protected StoreOptions Options => new()
    {
        Root = RootPath,
        Verbose = WriteVerbose,
        Warning = WriteWarning,
        Progress = p => _progress?.Report(p),
    };

    /// <summary>
    /// The store at -Root (opened again when a piped object names another store). Only New-Layer and
    /// Initialize-LayerStore create a store; anything else on a mistyped root says there is none.
    /// </summary>
    protected StoreEngine Store
    {
        get
        {
            if (_store is null || _store.Root != Path.TrimEndingDirectorySeparator(Path.GetFullPath(RootPath)))
                _store = StoreEngine.OpenExisting(Options) ?? throw new LayerToolsException(LayerError.StoreNotFound,
                    $"There is no layer store at '{RootPath}'. Check -Root (or $env:LAYERTOOLS_ROOT); Initialize-LayerStore or New-Layer creates a store.",
                    RootPath);
            return _store;
        }
    }

    /// <summary>Runs one unit of work; a failure becomes a non-terminating error about <paramref name="target"/>.</summary>
    protected void Run(object? target, Action work)
    {
        _progress = new ProgressReporter(this);
        try
        {
            work();
        }
        catch (Exception e) when (e is LayerToolsException or IOException or UnauthorizedAccessException or ArgumentException or ArchiveUnsafeEntryException)
        {
            WriteError(ErrorMapping.ToErrorRecord(e, target));
        }
        finally
        {
            _progress.Complete();
            _progress = null;
        }
    }

    /// <summary>"'web' (1a2b3c4d5e6f)": how -WhatIf and -Confirm name a layer.</summary>
    protected static string Describe(Layer layer) =>
        layer.Names.Count > 0 ? $"'{layer.Names[0]}' ({layer.Id[..12]})" : layer.Id;

    /// <summary>Shows progress only for work that lasts longer than a moment, and not too often.</summary>
    private sealed class ProgressReporter(Cmdlet cmdlet)
    {
        private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);
        private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan? _last;
        private ProgressRecord? _shown;

        public void Report(WorkProgress progress)
        {
            TimeSpan now = _clock.Elapsed;
            if (now < Delay || (_last is { } last && now - last < Interval)) return;
            _last = now;
            _shown = new ProgressRecord(1, progress.Activity, progress.Status)
            {
                PercentComplete = progress.Total > 0 ? (int)Math.Min(100, progress.Done * 100 / progress.Total) : -1,
            };
            cmdlet.WriteProgress(_shown);
        }

        public void Complete()
        {
            if (_shown is null) return;
            // A new record: a host may keep the one it was given, which must stay what it said.
            cmdlet.WriteProgress(new ProgressRecord(_shown.ActivityId, _shown.Activity, _shown.StatusDescription)
            {
                PercentComplete = _shown.PercentComplete,
                RecordType = ProgressRecordType.Completed,
            });
        }
    }
}

/// <summary>A cmdlet that acts on layers named by id, name or unique id prefix, or piped in.</summary>
public abstract class LayerCmdlet : StoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Layer")]
    [Alias("Id", "LayerId")]
    [ArgumentCompleter(typeof(LayerCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Layer { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (string name in Layer)
            Run(name, () => Process(Store.Get(name)));
    }

    protected abstract void Process(Layer layer);
}
