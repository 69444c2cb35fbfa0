namespace LayerTools.Archive;

/// <summary>
/// PAX records by key, in order of first appearance; a later record for a key replaces the value in
/// place. Holds the global ('g') records that persist across entries and one entry's own ('x') records.
/// </summary>
internal sealed class PaxRecordSet
{
    private readonly List<KeyValuePair<string, byte[]>> _records = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public IReadOnlyList<KeyValuePair<string, byte[]>> Records => _records;

    /// <summary>Key and value bytes held, so a run of global headers cannot grow without bound.</summary>
    public long ByteCount { get; private set; }

    public void Set(string key, byte[] value)
    {
        if (_index.TryGetValue(key, out int at))
        {
            ByteCount += value.Length - _records[at].Value.Length;
            _records[at] = new(key, value);
            return;
        }
        _index.Add(key, _records.Count);
        _records.Add(new(key, value));
        ByteCount += key.Length + value.Length;
    }

    public bool TryGet(string key, out byte[] value)
    {
        if (_index.TryGetValue(key, out int at))
        {
            value = _records[at].Value;
            return true;
        }
        value = [];
        return false;
    }

    public bool Contains(string key) => _index.ContainsKey(key);

    public void Clear()
    {
        _records.Clear();
        _index.Clear();
        ByteCount = 0;
    }
}
