using System.Buffers;
using System.Globalization;
using System.Text;
using LayerTools.Native;

namespace LayerTools.Archive;

/// <summary>
/// The PAX extended header data: records "LENGTH KEY=VALUE\n" where LENGTH counts the whole record,
/// so a value may hold any byte, NUL and invalid UTF-8 included. Also the encodings of the numeric and
/// time values the standard keys carry.
/// </summary>
internal static class PaxRecords
{
    /// <summary>
    /// The most extension data (PAX records, a GNU long name) accepted for one header. The reader holds it
    /// in memory, so this bounds what a hostile archive can make it allocate; the writer refuses to produce
    /// more, so everything it writes can be read back.
    /// </summary>
    public const int MaxDataSize = 1 << 20;

    public const string XattrPrefix = "SCHILY.xattr.";

    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Splits <paramref name="data"/> into records in order; null on success, else what is wrong.</summary>
    public static string? TryParse(ReadOnlySpan<byte> data, List<KeyValuePair<string, byte[]>> records)
    {
        int start = 0;
        while (start < data.Length)
        {
            ReadOnlySpan<byte> rest = data[start..];
            int space = rest.IndexOf((byte)' ');
            if (space <= 0 || space > 7)
                return $"PAX record at data offset {start} does not start with a length";
            if (!TryParseDecimal(rest[..space], out long length))
                return $"PAX record at data offset {start} has a malformed length";
            if (length <= space + 1 || length > rest.Length)
                return $"PAX record at data offset {start} claims {length} bytes but {rest.Length} remain";
            ReadOnlySpan<byte> record = rest[(space + 1)..(int)length];
            if (record[^1] != (byte)'\n')
                return $"PAX record at data offset {start} does not end with a newline";
            int equals = record.IndexOf((byte)'=');
            if (equals <= 0)
                return $"PAX record at data offset {start} has no key=value";
            ReadOnlySpan<byte> keyBytes = record[..equals];
            if (keyBytes.Contains((byte)0))
                return $"PAX record at data offset {start} has a NUL in its key";
            string key;
            try { key = StrictUtf8.GetString(keyBytes); }
            catch (DecoderFallbackException) { return $"PAX record at data offset {start} has a key that is not UTF-8"; }
            records.Add(new(key, record[(equals + 1)..^1].ToArray()));
            start += (int)length;
        }
        return null;
    }

    /// <summary>Appends one record, computing the self-inclusive length prefix.</summary>
    public static void Append(ArrayBufferWriter<byte> buffer, string key, ReadOnlySpan<byte> value)
    {
        int body = Encoding.UTF8.GetByteCount(key) + value.Length + 3; // space, '=', newline
        int length = body + Digits(body);
        if (Digits(length) != Digits(body)) length++;

        WriteAscii(buffer, length.ToString(CultureInfo.InvariantCulture));
        WriteAscii(buffer, " ");
        Span<byte> target = buffer.GetSpan(Encoding.UTF8.GetByteCount(key));
        buffer.Advance(Encoding.UTF8.GetBytes(key, target));
        WriteAscii(buffer, "=");
        buffer.Write(value);
        WriteAscii(buffer, "\n");
    }

    private static void WriteAscii(ArrayBufferWriter<byte> buffer, string text)
    {
        Span<byte> target = buffer.GetSpan(text.Length);
        buffer.Advance(Encoding.ASCII.GetBytes(text, target));
    }

    private static int Digits(int n) => n.ToString(CultureInfo.InvariantCulture).Length;

    /// <summary>A non-negative decimal number with no sign, space or fraction.</summary>
    public static bool TryParseDecimal(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.IsEmpty) return false;
        foreach (byte b in text)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
            int digit = b - '0';
            if (value > (long.MaxValue - digit) / 10) return false;
            value = value * 10 + digit;
        }
        return true;
    }

    /// <summary>
    /// A PAX time: optional '-', decimal seconds, optional '.' and fraction digits (beyond nanoseconds they
    /// are dropped). "-1.5" is one and a half seconds before the epoch: seconds -2, nanoseconds 500000000.
    /// </summary>
    public static bool TryParseTime(ReadOnlySpan<byte> text, out Timestamp time)
    {
        time = default;
        bool negative = !text.IsEmpty && text[0] == (byte)'-';
        if (negative) text = text[1..];
        int dot = text.IndexOf((byte)'.');
        ReadOnlySpan<byte> whole = dot < 0 ? text : text[..dot];
        if (!TryParseDecimal(whole, out long seconds)) return false;

        long nanoseconds = 0;
        if (dot >= 0)
        {
            ReadOnlySpan<byte> fraction = text[(dot + 1)..];
            if (fraction.IsEmpty) return false;
            for (int i = 0; i < fraction.Length; i++)
            {
                if (fraction[i] is < (byte)'0' or > (byte)'9') return false;
                if (i < 9) nanoseconds = nanoseconds * 10 + (fraction[i] - '0');
            }
            for (int i = fraction.Length; i < 9; i++) nanoseconds *= 10;
        }

        if (!negative)
        {
            time = new Timestamp(seconds, (uint)nanoseconds);
        }
        else if (nanoseconds == 0)
        {
            time = new Timestamp(-seconds, 0);
        }
        else
        {
            time = new Timestamp(-seconds - 1, (uint)(1_000_000_000 - nanoseconds));
        }
        return true;
    }

    /// <summary>Formats a time as GNU tar does: seconds, then the fraction without trailing zeros.</summary>
    public static string FormatTime(Timestamp time)
    {
        if (time.Nanoseconds == 0) return time.Seconds.ToString(CultureInfo.InvariantCulture);
        bool negative = time.Seconds < 0;
        // Before the epoch the value is -(|seconds| - 1 + (1e9 - ns) / 1e9): the fraction counts down.
        long whole = negative ? -(time.Seconds + 1) : time.Seconds;
        uint fraction = negative ? 1_000_000_000 - time.Nanoseconds : time.Nanoseconds;
        string digits = fraction.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
        return $"{(negative ? "-" : "")}{whole.ToString(CultureInfo.InvariantCulture)}.{digits}";
    }
}
