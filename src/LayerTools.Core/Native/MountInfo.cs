using System.Text;

namespace LayerTools.Native;

/// <summary>One line of /proc/self/mountinfo: where something is mounted and what file system it is.</summary>
public sealed record MountInfo(string MountPoint, string FilesystemType, string Source)
{
    public static IReadOnlyList<MountInfo> ReadAll()
    {
        var mounts = new List<MountInfo>();
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 2 >= fields.Length) continue;
            mounts.Add(new MountInfo(Unescape(fields[4]), fields[separator + 1], Unescape(fields[separator + 2])));
        }
        return mounts;
    }

    /// <summary>The mount that holds <paramref name="path"/> (the longest mount point that is a prefix of it).</summary>
    public static MountInfo? Containing(string path)
    {
        string full = Path.GetFullPath(path);
        MountInfo? best = null;
        foreach (MountInfo m in ReadAll())
        {
            bool covers = m.MountPoint == "/" || full == m.MountPoint || full.StartsWith(m.MountPoint + "/", StringComparison.Ordinal);
            // Later lines are mounted on top of earlier ones at the same point.
            if (covers && (best is null || m.MountPoint.Length >= best.MountPoint.Length)) best = m;
        }
        return best;
    }

    /// <summary>The kernel writes space, tab, newline and backslash in mount paths as \ooo octal escapes.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var bytes = new List<byte>(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                bytes.Add(Convert.ToByte(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(string s, int start) =>
        start + 3 <= s.Length && s[start] is >= '0' and <= '7' && s[start + 1] is >= '0' and <= '7' && s[start + 2] is >= '0' and <= '7';
}
