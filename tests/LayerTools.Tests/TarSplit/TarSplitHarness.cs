using System.Security.Cryptography;
using LayerTools.Archive;
using LayerTools.Tests.Archive;

namespace LayerTools.Tests.TarSplit;

/// <summary>Plays the store's part around the recorder and replayer: import a tarball, extract it as a layer, export it again.</summary>
public static class TarSplitHarness
{
    /// <summary>
    /// Reads the archive as the applier does, reporting each entry once its data has been consumed, and
    /// returns the tar-split record with the trailer the store would write.
    /// </summary>
    public static byte[] Record(string archive)
    {
        var sidecar = new MemoryStream();
        using (var recorder = new TarSplitRecorder(sidecar, leaveOpen: true))
        using (FileStream input = File.OpenRead(archive))
        {
            var tar = new DigestStream(input, leaveOpen: true);
            using (var reader = new TarReader(tar, recorder.RawSink, leaveOpen: true))
            {
                while (reader.Next() is { } entry)
                {
                    if (entry.StoredSize > 0) reader.OpenPayload().CopyTo(Stream.Null);
                    recorder.Applied(entry, Normalize(entry.Name));
                }
            }
            tar.CopyTo(Stream.Null);
            recorder.Complete(tar.Digest, tar.Length);
        }
        return sidecar.ToArray();
    }

    /// <summary>The entry's path inside the layer, as the applier reports it: no "./", no leading or trailing '/'.</summary>
    public static string Normalize(string name)
    {
        while (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
        name = name.Trim('/');
        return name == "." ? "" : name;
    }

    /// <summary>Extracts the archive with GNU tar into a new directory under <paramref name="scratch"/>: the layer's files.</summary>
    public static string Extract(string archive, TempDirectory scratch)
    {
        string layer = scratch.Combine("layer-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(layer);
        ExternalTool.Run("tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-S", "-xpf", archive, "-C", layer);
        return layer;
    }

    public static byte[] Replay(byte[] sidecar, string layer)
    {
        var output = new MemoryStream();
        TarSplitReplayer.Replay(new MemoryStream(sidecar), layer, output);
        return output.ToArray();
    }

    public static bool Verify(byte[] sidecar, string layer) => TarSplitReplayer.Verify(new MemoryStream(sidecar), layer);

    public static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes));
}
