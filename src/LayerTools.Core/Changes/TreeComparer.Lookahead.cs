using System.Runtime.ExceptionServices;

namespace LayerTools.Changes;

public static partial class TreeComparer
{
    /// <summary>
    /// One directory to compare: the upper tree's directory at a layer path, and the lower tree's directory
    /// there, or null when there is none and every child is Added. Once compared, it holds what
    /// <see cref="CompareChildren"/> found, or how that failed, until the walk takes it.
    /// </summary>
    private sealed class DirectoryPair(string path, string? lower, string upper)
    {
        public string Path { get; } = path;
        public string? Lower { get; } = lower;
        public string Upper { get; } = upper;

        public bool Started { get; set; }
        public bool Ahead { get; set; }
        public bool Done { get; set; }
        public List<Child>? Children { get; set; }
        public ExceptionDispatchInfo? Failure { get; set; }
    }

    /// <summary>
    /// Compares directories ahead of the walk on the other cores. Comparing is nearly all system calls,
    /// which run on any core, while the walk needs the directories one at a time in path order. So the walk
    /// compares its next directory itself unless someone has started it, and while that one is still being
    /// compared elsewhere it compares the earliest directory no one has started, as helper threads do
    /// all the time. No one starts another while <see cref="MaxAhead"/> directories compared ahead wait to
    /// be taken, which bounds the memory. A failure is rethrown when the walk reaches its directory, as if
    /// the walk had met it itself.
    /// </summary>
    private sealed class Lookahead : IDisposable
    {
        private const int MaxAhead = 64;
        // Each helper needs a core of its own to pay for itself; beyond a few, the walk cannot keep up anyway.
        private static readonly int Helpers = Math.Clamp(Environment.ProcessorCount - 1, 0, 3);

        private readonly object _gate = new();
        private readonly SortedSet<DirectoryPair> _waiting = new(Comparer<DirectoryPair>.Create((x, y) => LayerPathComparer.Instance.Compare(x.Path, y.Path)));
        private readonly List<Thread> _helpers = [];
        private int _ahead;
        private bool _stopped;

        /// <summary>The children of the walk's next directory, once compared here or elsewhere.</summary>
        public List<Child> Take(DirectoryPair pair)
        {
            while (true)
            {
                DirectoryPair? work;
                lock (_gate)
                {
                    while (true)
                    {
                        if (pair.Done)
                        {
                            if (pair.Ahead)
                            {
                                _ahead--;
                                Monitor.PulseAll(_gate);
                            }
                            pair.Failure?.Throw();
                            return pair.Children!;
                        }
                        if (!pair.Started)
                        {
                            _waiting.Remove(pair);
                            pair.Started = true;
                            work = pair;
                            break;
                        }
                        work = StartAhead();
                        if (work is not null) break;
                        Monitor.Wait(_gate);
                    }
                }
                Compare(work);
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _stopped = true;
                Monitor.PulseAll(_gate);
            }
            // A helper may be reading the trees; the caller may unmount them as soon as the walk is over.
            foreach (Thread helper in _helpers) helper.Join();
        }

        /// <summary>The earliest directory no one has started, marked as started ahead of the walk; null if there is none or enough are ahead.</summary>
        private DirectoryPair? StartAhead()
        {
            if (_waiting.Count == 0 || _ahead >= MaxAhead) return null;
            DirectoryPair pair = _waiting.Min!;
            _waiting.Remove(pair);
            pair.Started = true;
            pair.Ahead = true;
            _ahead++;
            return pair;
        }

        /// <summary>Compares a directory and records the result, making its subdirectories known; helpers start on the first need.</summary>
        private void Compare(DirectoryPair pair)
        {
            List<Child>? children = null;
            ExceptionDispatchInfo? failure = null;
            try
            {
                children = CompareChildren(pair);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
            lock (_gate)
            {
                pair.Children = children;
                pair.Failure = failure;
                pair.Done = true;
                foreach (Child child in children ?? [])
                {
                    if (child.Directory is { } directory) _waiting.Add(directory);
                }
                if (_waiting.Count > 0 && _helpers.Count < Helpers && !_stopped)
                {
                    var helper = new Thread(Help) { IsBackground = true, Name = "TreeComparer lookahead" };
                    helper.Start();
                    _helpers.Add(helper);
                }
                Monitor.PulseAll(_gate);
            }
        }

        private void Help()
        {
            while (true)
            {
                DirectoryPair? pair;
                lock (_gate)
                {
                    while ((pair = _stopped ? null : StartAhead()) is null)
                    {
                        if (_stopped) return;
                        Monitor.Wait(_gate);
                    }
                }
                Compare(pair);
            }
        }
    }
}
