using System.Buffers.Binary;
using System.Text;
using LayerTools.Native;

namespace LayerTools.Tests;

/// <summary>A tree holding every file type, owner, special mode, xattr and time a layer must carry over.</summary>
public static class FixtureTree
{
    public static readonly Timestamp OldAtime = new(978_307_200, 100_000_001);
    public static readonly Timestamp In1970 = new(86_401, 123_456_789);
    public static readonly Timestamp In2100 = new(4_102_444_807, 987_654_321);

    /// <summary>Fills <paramref name="root"/> (made if missing) with every file type and attribute a layer must keep.</summary>
    public static void Build(string root, byte[] capability)
    {
        string P(string relative) => Path.Join(root, relative);
        int stamp = 0;
        // Every entry gets its own nanoseconds, so a copy that mixes up times cannot pass by luck.
        void Times(string relative, Timestamp? atime = null, Timestamp? mtime = null)
        {
            stamp++;
            Fs.SetTimes(P(relative),
                atime ?? OldAtime with { Nanoseconds = OldAtime.Nanoseconds + (uint)stamp },
                mtime ?? new Timestamp(1_600_000_000 + stamp, 900_000_000u + (uint)stamp * 7));
        }
        void Write(string relative, string content, string mode)
        {
            File.WriteAllText(P(relative), content);
            Fs.Chmod(P(relative), Octal(mode));
        }

        if (!Directory.Exists(root)) Fs.Mkdir(root, Octal("700"));
        foreach (string directory in new[] { "a", "a/b", "a/b/c", "tmp", "usr", "usr/bin", "shared", "links1", "links2", "dev", "times", "private" })
            Fs.Mkdir(P(directory), Octal("755"));

        Write("hello.txt", "hello, layer\n", "644");
        Xattrs.Set(P("hello.txt"), "user.blob", [0, 1, 0, 0xFF, 0]);
        Xattrs.Set(P("hello.txt"), "user.empty", []);
        Xattrs.Set(P("hello.txt"), "trusted.note", Encoding.UTF8.GetBytes("kept by root"));
        Write("empty", "", "600");
        Write("ünïcødé name", "utf-8 names survive\n", "644");
        Write("a/.hidden", "dot files are entries too\n", "644");
        Write("a/b/c/deep.txt", "deep\n", "444");
        Xattrs.Set(P("a"), "trusted.overlay.opaque", "y"u8.ToArray());

        using (var handle = File.OpenHandle(P("sparse.img"), FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.SetLength(handle, 64L << 20);
            RandomAccess.Write(handle, Encoding.ASCII.GetBytes(new string('x', 8192)), 32L << 20);
        }

        Fs.Chmod(P("tmp"), Octal("1777"));

        Write("usr/bin/su", "#!/bin/sh\n", "755");
        Fs.Lchown(P("usr/bin/su"), 1234, 5678);
        Fs.Chmod(P("usr/bin/su"), Octal("4755"));
        Write("usr/bin/ping", "\u007FELF", "755");
        Xattrs.Set(P("usr/bin/ping"), "security.capability", capability);

        Fs.Lchown(P("shared"), 0, 5678);
        Fs.Chmod(P("shared"), Octal("2775"));
        Write("shared/readme", "group-shared\n", "664");

        Write("links1/h1", "one inode, three names\n", "640");
        Fs.Lchown(P("links1/h1"), 1000, 1000);
        Fs.Link(P("links1/h1"), P("links1/h2"));
        Fs.Link(P("links1/h1"), P("links2/h3"));

        Fs.Symlink("hello.txt", P("link-to-hello"));
        Fs.Lchown(P("link-to-hello"), 42, 43);
        Xattrs.Set(P("link-to-hello"), "trusted.link", [1, 2, 3]);
        Fs.Symlink("/nonexistent/target", P("dangling"));
        Fs.Lchown(P("dangling"), 7, 8);

        Fs.Mknod(P("dev/fifo"), FileKind.Fifo, Octal("620"), 0, 0);
        Fs.Mknod(P("dev/socket"), FileKind.Socket, Octal("755"), 0, 0);
        Fs.Mknod(P("dev/null"), FileKind.CharDevice, Octal("666"), 1, 3);
        Fs.Mknod(P("dev/loop0"), FileKind.BlockDevice, Octal("660"), 7, 0);
        Fs.Lchown(P("dev/loop0"), 0, 6);

        Write("times/epoch.txt", "1970\n", "644");
        Write("times/future.txt", "2100\n", "644");
        Write("private/secret", "hush\n", "400");
        Fs.Chmod(P("private"), Octal("700"));

        foreach (string relative in new[]
        {
            "hello.txt", "empty", "ünïcødé name", "a/.hidden", "a/b/c/deep.txt", "sparse.img", "usr/bin/su", "usr/bin/ping",
            "shared/readme", "links1/h1", "dev/fifo", "dev/socket", "dev/null", "dev/loop0", "private/secret",
        })
            Times(relative);
        Times("times/epoch.txt", mtime: In1970);
        Times("times/future.txt", mtime: In2100);
        // Reading a symlink moves its atime under relatime unless that atime lies ahead of its mtime and
        // ctime and is less than a day old; an atime in 2100 is all three, so these ones stay comparable.
        Times("link-to-hello", atime: In2100);
        Times("dangling", atime: In2100, mtime: In1970);

        // Deepest first: each directory's times are set after its last child changed it.
        foreach (string directory in new[] { "a/b/c", "a/b", "a", "tmp", "usr/bin", "usr", "shared", "links1", "links2", "dev", "times" })
            Times(directory);
        Times("private", mtime: In1970);

        Fs.Chmod(root, Octal("751"));
        Xattrs.Set(root, "user.layer", "root"u8.ToArray());
        Times("");
    }

    /// <summary>A vfs_cap_data revision 2 blob granting cap_net_bind_service (bit 10), effective.</summary>
    public static byte[] NetBindServiceCapability()
    {
        byte[] blob = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(0), 0x0200_0001);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), 1u << 10);
        return blob;
    }

    public static uint Octal(string digits) => Convert.ToUInt32(digits, 8);
}
