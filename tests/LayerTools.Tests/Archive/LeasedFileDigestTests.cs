using System.Security.Cryptography;
using LayerTools.Archive;
using LayerTools.Native;
using Xunit;
using static Tmds.Linux.LibC;

namespace LayerTools.Tests.Archive;

/// <summary>
/// A file read through <see cref="DigestStream.OverFile"/> is hashed by a second reading under a read
/// lease: the digest must be the plain SHA-256 of what was read, the lease must be real (the kernel lists
/// it, and a writer is held off), and anything that may have changed the file must refuse the digest.
/// </summary>
public sealed class LeasedFileDigestTests : IDisposable
{
    private static readonly byte[] Data = MakeData(5 * (1 << 20) + 777);
    private readonly TempDirectory _directory = new();
    private readonly string _file;

    public LeasedFileDigestTests()
    {
        _file = _directory.Combine("blob");
        File.WriteAllBytes(_file, Data);
    }

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData(0, 1 << 20)]
    [InlineData(1000, 4096)]
    [InlineData(3 * (1 << 20) + 5, 333_333)]
    public void Reading_to_the_end_gives_the_sha256_of_the_bytes_from_the_starting_position(int start, int readSize)
    {
        using var file = OpenForReading();
        file.Position = start;
        using var stream = DigestStream.OverFile(file, leaveOpen: true);
        Assert.True(LeaseListed(), "the kernel lists no lease on the file: the digest was not taken from a second reading");

        byte[] read = ReadToEnd(stream, readSize);

        Assert.Equal(Data[start..], read);
        Assert.Equal(Data.Length - start, stream.Length);
        Assert.Equal(Sha256(Data[start..]), stream.Digest);
    }

    [Fact]
    public void A_writer_is_held_off_while_the_lease_holds_and_then_the_digest_is_refused_as_ArchiveChanged()
    {
        using var file = OpenForReading();
        var stream = DigestStream.OverFile(file, leaveOpen: true);
        ReadToEnd(stream, 1 << 16);

        // A writer that would wait in open instead gets EWOULDBLOCK; either way the lease is broken, and no SIGIO ends this process.
        Assert.Equal(EWOULDBLOCK, OpenForWritingWithoutWaiting());
        var refused = Assert.Throws<LayerToolsException>(() => stream.Digest);
        Assert.Equal(LayerError.ArchiveChanged, refused.Error);
        Assert.Contains(_file, refused.Message);

        stream.Dispose();
        Assert.Null(OpenForWritingWithoutWaiting());
        Assert.False(LeaseListed());
    }

    [Fact]
    public void The_digest_is_asked_for_only_at_the_end_of_the_file()
    {
        using var file = OpenForReading();
        using var stream = DigestStream.OverFile(file, leaveOpen: true);
        stream.ReadExactly(new byte[1000]);

        var early = Assert.Throws<InvalidOperationException>(() => stream.Digest);
        Assert.Contains("end", early.Message);
        ReadToEnd(stream, 1 << 20);
        Assert.Equal(Sha256(Data), stream.Digest);
    }

    [Fact]
    public void A_digest_asked_for_before_disposal_stays_and_one_never_asked_for_is_gone_with_the_lease()
    {
        using var file = OpenForReading();
        var asked = DigestStream.OverFile(file, leaveOpen: true);
        ReadToEnd(asked, 1 << 20);
        string digest = asked.Digest;
        asked.Dispose();
        Assert.Equal(digest, asked.Digest);

        file.Position = 0;
        var never = DigestStream.OverFile(file, leaveOpen: true);
        ReadToEnd(never, 1 << 20);
        never.Dispose();
        Assert.Throws<ObjectDisposedException>(() => never.Digest);
    }

    [Fact]
    public void A_file_someone_has_open_for_writing_gets_no_lease_and_is_hashed_in_place()
    {
        using var writer = new FileStream(_file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        using var file = new FileStream(_file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var stream = DigestStream.OverFile(file, leaveOpen: true);
        Assert.False(LeaseListed());

        ReadToEnd(stream, 1 << 20);

        Assert.Equal(Sha256(Data), stream.Digest);
    }

    [Fact]
    public void Disposing_midway_stops_the_second_reading_and_releases_the_lease()
    {
        using var file = OpenForReading();
        var stream = DigestStream.OverFile(file, leaveOpen: true);
        stream.ReadExactly(new byte[100]);

        stream.Dispose();

        Assert.False(LeaseListed());
        Assert.Null(OpenForWritingWithoutWaiting());
        Assert.Equal(100, file.Position);
    }

    private FileStream OpenForReading() => new(_file, FileMode.Open, FileAccess.Read, FileShare.Read);

    private int? OpenForWritingWithoutWaiting() => OpenForWritingWithoutWaiting(_file);

    /// <summary>Null if the file opened for writing at once, else the errno of the refusal (a lease makes it EWOULDBLOCK).</summary>
    internal static int? OpenForWritingWithoutWaiting(string file)
    {
        try
        {
            Fs.Close(Fs.Open(file, O_WRONLY | O_NONBLOCK));
            return null;
        }
        catch (NativeException e)
        {
            return e.Errno;
        }
    }

    /// <summary>Whether /proc/locks lists a lease on the file (by inode).</summary>
    private bool LeaseListed()
    {
        ulong inode = Fs.Lstat(_file).Inode;
        return File.ReadLines("/proc/locks").Any(line =>
            line.Contains(" LEASE ") && line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is var fields
            && fields.Any(f => f.Count(c => c == ':') == 2 && f.EndsWith(":" + inode)));
    }

    private static byte[] ReadToEnd(Stream stream, int readSize)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[readSize];
        for (int read; (read = stream.Read(buffer, 0, buffer.Length)) > 0;) all.Write(buffer, 0, read);
        return all.ToArray();
    }

    private static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    private static byte[] MakeData(int length)
    {
        byte[] data = new byte[length];
        new Random(11).NextBytes(data);
        return data;
    }
}
