using System.Numerics;

namespace LayerTools.Archive;

/// <summary>
/// The 512-byte tar header block: where each field sits (ustar, with the old-GNU overlay of the prefix
/// area) and how numbers, text and the checksum are encoded in it. Shared by reader and writer so both
/// agree on every offset.
/// </summary>
internal static class TarHeaderBlock
{
    public const int Size = 512;

    /// <summary>A field's position in the block.</summary>
    public readonly record struct Field(int Offset, int Length)
    {
        public ReadOnlySpan<byte> Of(ReadOnlySpan<byte> block) => block.Slice(Offset, Length);

        public Span<byte> Of(Span<byte> block) => block.Slice(Offset, Length);
    }

    public static readonly Field Name = new(0, 100);
    public static readonly Field Mode = new(100, 8);
    public static readonly Field Uid = new(108, 8);
    public static readonly Field Gid = new(116, 8);
    public static readonly Field FileSize = new(124, 12);
    public static readonly Field Mtime = new(136, 12);
    public static readonly Field Checksum = new(148, 8);
    public const int TypeFlag = 156;
    public static readonly Field LinkName = new(157, 100);
    public static readonly Field Magic = new(257, 8);
    public static readonly Field UserName = new(265, 32);
    public static readonly Field GroupName = new(297, 32);
    public static readonly Field DevMajor = new(329, 8);
    public static readonly Field DevMinor = new(337, 8);
    public static readonly Field Prefix = new(345, 155);

    // Old GNU headers reuse the prefix area for the first sparse slots and the real size of a sparse file.
    public const int GnuSparseSlots = 386;
    public const int GnuSparseSlotCount = 4;
    public const int GnuIsExtended = 482;
    public static readonly Field GnuRealSize = new(483, 12);
    public const int GnuSparseSlotSize = 24;
    public const int GnuExtensionSlotCount = 21;
    public const int GnuExtensionIsExtended = 504;

    /// <summary>"ustar\0" then version "00": POSIX ustar and pax.</summary>
    public static ReadOnlySpan<byte> UstarMagic => "ustar\u000000"u8;

    /// <summary>"ustar  \0": the old GNU format, whose prefix area holds sparse data, not a path prefix.</summary>
    public static ReadOnlySpan<byte> GnuMagic => "ustar  \0"u8;

    public static bool IsZero(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    /// <summary>
    /// True if the stored checksum matches the header, summing bytes as unsigned (the standard) or signed
    /// (what some historic tars computed, and GNU tar still accepts).
    /// </summary>
    public static bool HasValidChecksum(ReadOnlySpan<byte> block)
    {
        block = block[..Size];
        ReadOnlySpan<byte> field = Checksum.Of(block);
        if (!TryParseNumber(field, out long stored)) return false;
        // The checksum field itself counts as spaces.
        long unsigned = SumOf(block) - SumOf(field) + Checksum.Length * ' ';
        if (stored == unsigned) return true;
        // Summed as signed chars, every byte from 0x80 up counts 256 less.
        long high = 0;
        foreach (byte b in block[..Checksum.Offset]) high += b >> 7;
        foreach (byte b in block[(Checksum.Offset + Checksum.Length)..]) high += b >> 7;
        return stored == unsigned - 256 * high;
    }

    /// <summary>The sum of at most a block's bytes, a vector at a time: it runs for every header read.</summary>
    private static long SumOf(ReadOnlySpan<byte> bytes)
    {
        // Each 16-bit lane gathers two bytes a step: a block is far from filling one.
        var lanes = Vector<ushort>.Zero;
        int i = 0;
        for (; i + Vector<byte>.Count <= bytes.Length; i += Vector<byte>.Count)
        {
            Vector.Widen(new Vector<byte>(bytes[i..]), out Vector<ushort> low, out Vector<ushort> high);
            lanes += low + high;
        }
        Vector.Widen(lanes, out Vector<uint> first, out Vector<uint> second);
        long sum = Vector.Sum(first) + Vector.Sum(second);
        for (; i < bytes.Length; i++) sum += bytes[i];
        return sum;
    }

    /// <summary>Fills the checksum field the way GNU tar does: six octal digits, NUL, space.</summary>
    public static void SetChecksum(Span<byte> block)
    {
        Span<byte> field = Checksum.Of(block);
        field.Fill((byte)' ');
        long sum = 0;
        foreach (byte b in block) sum += b;
        WriteOctalDigits(field[..6], sum);
        field[6] = 0;
        field[7] = (byte)' ';
    }

    /// <summary>
    /// Parses a numeric field: octal digits with optional leading spaces, ended by a space or NUL (an empty
    /// field is 0), or GNU base-256 (first byte 0x80 for a positive value, 0xFF for a negative one).
    /// </summary>
    public static bool TryParseNumber(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.Length > 0 && (field[0] & 0x80) != 0) return TryParseBase256(field, out value);

        int i = 0;
        while (i < field.Length && field[i] == ' ') i++;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++)
        {
            if (value > (long.MaxValue >> 3)) return false;
            value = (value << 3) | (long)(field[i] - '0');
        }
        // Whatever ends the digits must be padding only, or a corrupted digit would pass as a terminator.
        return !field[i..].ContainsAnyExcept((byte)' ', (byte)0);
    }

    private static bool TryParseBase256(ReadOnlySpan<byte> field, out long value)
    {
        bool negative = field[0] == 0xFF;
        value = negative ? -1 : 0;
        if (field[0] != 0x80 && !negative) return false;
        foreach (byte b in field[1..])
        {
            // The top byte must be pure sign extension, or shifting it out would lose significant bits.
            if ((value >> 55) != (negative ? -1 : 0)) return false;
            value = (value << 8) | b;
        }
        return negative ? value < 0 : value >= 0;
    }

    /// <summary>The largest value <paramref name="field"/> holds as octal digits followed by a NUL.</summary>
    public static long MaxOctal(Field field) => (1L << (3 * (field.Length - 1))) - 1;

    /// <summary>Writes zero-padded octal digits filling all but the last byte of the field, then a NUL.</summary>
    public static void WriteOctal(Span<byte> block, Field field, long value)
    {
        if (value < 0 || value > MaxOctal(field))
            throw new ArgumentOutOfRangeException(nameof(value), value, $"does not fit the {field.Length}-byte octal field at offset {field.Offset}");
        Span<byte> target = field.Of(block);
        WriteOctalDigits(target[..^1], value);
        target[^1] = 0;
    }

    private static void WriteOctalDigits(Span<byte> digits, long value)
    {
        for (int i = digits.Length - 1; i >= 0; i--)
        {
            digits[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
    }

    /// <summary>The bytes of a text field up to its first NUL (or the whole field if it has none).</summary>
    public static ReadOnlySpan<byte> Text(ReadOnlySpan<byte> block, Field field)
    {
        ReadOnlySpan<byte> raw = field.Of(block);
        int end = raw.IndexOf((byte)0);
        return end < 0 ? raw : raw[..end];
    }

    /// <summary>Copies <paramref name="text"/> into a field; the caller has checked it fits.</summary>
    public static void WriteText(Span<byte> block, Field field, ReadOnlySpan<byte> text) => text.CopyTo(field.Of(block));

    /// <summary>How many zero bytes follow <paramref name="length"/> payload bytes to reach a block boundary.</summary>
    public static int PaddingAfter(long length) => (int)((Size - length % Size) % Size);
}
