using LayerTools.Native;
using LayerTools.Store;
using Xunit;
using static LayerTools.Tests.FixtureTree;

namespace LayerTools.Tests.Diffs;

/// <summary>The change set the diff tests make on a child of a FixtureTree base, and how its results are checked.</summary>
public static class ChangeSet
{
    /// <summary>Adds (with a hardlink pair, a symlink and an xattr), deletes a file and a whole directory, re-creates a directory, changes content and modes.</summary>
    public static void Apply(string tree)
    {
        string P(string relative) => Path.Join(tree, relative);
        File.WriteAllText(P("added.txt"), "new file\n");
        Xattrs.Set(P("added.txt"), "user.origin", [0, 1, 2, 255]);
        Fs.Link(P("added.txt"), P("added-link.txt"));
        Fs.Symlink("added.txt", P("added-symlink"));
        Directory.CreateDirectory(P("newdir/sub"));
        File.WriteAllText(P("newdir/sub/file"), "deep\n");
        File.Delete(P("empty"));
        Directory.Delete(P("a"), recursive: true);
        Directory.Delete(P("links2"), recursive: true);
        Directory.CreateDirectory(P("links2"));
        File.WriteAllText(P("links2/replacement"), "re-created\n");
        File.WriteAllText(P("hello.txt"), "hello, changed layer\n");
        Fs.Chmod(P("times/epoch.txt"), Octal("600"));
        Fs.Chmod(tree, Octal("755"));
    }

    /// <summary>The two layers' trees are equal by every attribute TreeSnapshot records.</summary>
    public static void AssertSameTrees(StoreEngine expectedStore, string expectedLayer, StoreEngine actualStore, string actualLayer)
    {
        string expected = expectedStore.Mount(expectedLayer, readOnly: true).Path;
        string actual = actualStore.Mount(actualLayer, readOnly: true).Path;
        try
        {
            Assert.Empty(TreeSnapshot.Take(actual).DifferencesFrom(TreeSnapshot.Take(expected)));
        }
        finally
        {
            expectedStore.Unmount(expectedLayer, force: true);
            actualStore.Unmount(actualLayer, force: true);
        }
    }

    /// <summary>How GNU tar lists the entry that carries a change.</summary>
    public static string TarEntryName(LayerChange change)
    {
        if (change.Path == "/") return "./";
        if (change.Kind == ChangeKind.Deleted)
        {
            int slash = change.Path.LastIndexOf('/');
            return change.Path[1..(slash + 1)] + ".wh." + change.Path[(slash + 1)..];
        }
        return change.Path[1..];
    }
}
