using System.Text;

namespace LayerTools.Tests.Archive;

/// <summary>
/// Builds tar bytes block by block, independently of the codec under test, so hostile tests can say
/// exactly which field is wrong.
/// </summary>
public sealed class HandMadeArchive
{
    private readonly MemoryStream _bytes = new();

    /// <summary>A ustar header; <paramref name="edit"/> runs before the checksum is computed, <paramref name="afterChecksum"/> after.</summary>
    public HandMadeArchive Header(string name, char type = '0', long size = 0, Action<byte[]>? edit = null,
        Action<byte[]>? afterChecksum = null, string magic = "ustar\u000000")
    {
        byte[] block = new byte[512];
        Encoding.UTF8.GetBytes(name).AsSpan(0, Math.Min(100, Encoding.UTF8.GetByteCount(name))).CopyTo(block);
        Octal(block, 100, 8, 0x1A4);
        Octal(block, 108, 8, 0);
        Octal(block, 116, 8, 0);
        Octal(block, 124, 12, size);
        Octal(block, 136, 12, 1_700_000_000);
        block[156] = (byte)type;
        Encoding.ASCII.GetBytes(magic).CopyTo(block, 257);
        edit?.Invoke(block);
        SetChecksum(block);
        afterChecksum?.Invoke(block);
        _bytes.Write(block);
        return this;
    }

    /// <summary>A PAX 'x' (or 'g') header carrying <paramref name="records"/> verbatim, then its padded data.</summary>
    public HandMadeArchive Pax(byte[] records, char type = 'x') =>
        Header("PaxHeaders/entry", type, records.Length).Data(records);

    public HandMadeArchive Pax(string records, char type = 'x') => Pax(Encoding.UTF8.GetBytes(records), type);

    /// <summary>One well-formed PAX record with its length prefix.</summary>
    public static string Record(string key, string value)
    {
        int body = Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value) + 3;
        int length = body + body.ToString().Length;
        if (length.ToString().Length != body.ToString().Length) length++;
        return $"{length} {key}={value}\n";
    }

    /// <summary>Payload bytes padded to a block boundary.</summary>
    public HandMadeArchive Data(byte[] data)
    {
        _bytes.Write(data);
        _bytes.Write(new byte[(512 - data.Length % 512) % 512]);
        return this;
    }

    public HandMadeArchive Raw(byte[] bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public HandMadeArchive End() => Raw(new byte[1024]);

    public byte[] ToArray() => _bytes.ToArray();

    public static void Octal(byte[] block, int offset, int length, long value)
    {
        string digits = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        Encoding.ASCII.GetBytes(digits).CopyTo(block, offset);
        block[offset + length - 1] = 0;
    }

    /// <summary>GNU base-256: 0x80 (or 0xFF for a negative value) then the big-endian two's complement.</summary>
    public static void Base256(byte[] block, int offset, int length, long value)
    {
        for (int i = length - 1; i >= 1; i--)
        {
            block[offset + i] = (byte)value;
            value >>= 8;
        }
        block[offset] = value < 0 ? (byte)0xFF : (byte)0x80;
    }

    public static void Text(byte[] block, int offset, string text) => Encoding.UTF8.GetBytes(text).CopyTo(block, offset);

    public static void SetChecksum(byte[] block)
    {
        Array.Fill(block, (byte)' ', 148, 8);
        int sum = block.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0')).CopyTo(block, 148);
        block[154] = 0;
        block[155] = (byte)' ';
    }
}
