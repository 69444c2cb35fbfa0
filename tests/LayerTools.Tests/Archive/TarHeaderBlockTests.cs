using System.Text;
using LayerTools.Archive;
using Xunit;

namespace LayerTools.Tests.Archive;

public sealed class TarHeaderBlockTests
{
    /// <summary>The checksum is summed a vector at a time; it must agree with the byte-by-byte definition on any block.</summary>
    [Fact]
    public void The_checksum_check_agrees_with_the_plain_sums_of_the_bytes()
    {
        var random = new Random(3);
        for (int round = 0; round < 2000; round++)
        {
            byte[] block = new byte[TarHeaderBlock.Size];
            random.NextBytes(block);
            // Half the blocks are plain ASCII, as most headers are; the rest have bytes from 0x80 up.
            if (round % 2 == 0) for (int i = 0; i < block.Length; i++) block[i] &= 0x7F;
            long unsigned = 0, signed = 0;
            for (int i = 0; i < block.Length; i++)
            {
                byte b = i is >= 148 and < 156 ? (byte)' ' : block[i];
                unsigned += b;
                signed += (sbyte)b;
            }
            long stored = round % 3 switch { 0 => unsigned, 1 => signed, _ => unsigned + 1 + random.Next(100) };
            bool expected = stored == unsigned || stored == signed;
            // A negative signed sum cannot be written in octal digits; store its two's complement's low bits, which no sum matches.
            string digits = Convert.ToString(stored & 0x1FFFFF, 8).PadLeft(6, '0');
            Encoding.ASCII.GetBytes(digits).CopyTo(block, 148);
            block[154] = 0;
            block[155] = (byte)' ';
            if ((stored & 0x1FFFFF) != stored) expected = false;

            Assert.Equal(expected, TarHeaderBlock.HasValidChecksum(block));
        }
    }
}
