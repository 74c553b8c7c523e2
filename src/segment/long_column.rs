//! Long columns (`__time` and long metrics): part type `long`.
//!
//! ```text
//! +------+-----------+-------------+-------------+ - - - - - - - - - - - - - -+-----------------+
//! | 0x02 | total i32 | sizePer i32 | compression | encoding byte + header     | GenericIndexed  |
//! |      | (rows)    | (per block) |  (or id-126 | (only when the compression | of blocks       |
//! |      |           |             |  + encoding)| byte carries the flag)     |                 |
//! +------+-----------+-------------+-------------+ - - - - - - - - - - - - - -+-----------------+
//! encodings:
//!   longs (implied, 0xFF): each block = sizePer 8-byte values in the part's byte order
//!   delta (0x00): header 0x01 | base i64be | bitsPerValue i32be; value = base + packed
//!   table (0x01): header 0x01 | size i32be | size x i64be;       value = table[packed]
//! packed = VSizeLongSerde: values of 1,2,4,8,12,16,20,24,32,40,48,56 or 64 bits laid out
//!          most-significant bit first, one continuous big-endian bit stream per block
//! ```
//! Version `0x01` (legacy LZF-only) is read as "unsupported". The writer emits `longs` with
//! 8192 values per block.

use std::sync::Arc;

use bytes::Bytes;

use super::block_column::{BlockColumn, BlockDecoder, ByteOrder, Fixed};
use super::compression::{BlockWriter, Compression, MAX_BLOCK_BYTES, parse_blocks};
use super::error::Ctx;
use super::format::{Cursor, FormatError, corrupt};
use super::spill::Spill;

/// Values per block of the `longs` encoding (64 KiB / 8).
pub const LONGS_PER_BLOCK: usize = 8192;
/// The bit widths VSizeLongSerde supports.
pub const SUPPORTED_BITS: [u32; 13] = [1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 56, 64];
/// Encoding flag offset: a compression byte below `0xFE` (signed) announces an encoding byte.
const ENCODING_FLAG_OFFSET: u8 = 126;

/// A long column reader.
pub type LongColumn = BlockColumn<LongDecoder>;

/// How the longs of a block are stored.
#[derive(Debug, Clone)]
pub enum LongDecoder {
    /// 8-byte values.
    Longs(ByteOrder),
    /// Bit-packed offsets from `base`, or indexes into `table` when it is present.
    Packed {
        /// Bits per value.
        bits: u32,
        /// Added to each packed value (delta encoding).
        base: i64,
        /// Lookup table (table encoding).
        table_opt: Option<Arc<[i64]>>,
    },
}

impl BlockDecoder for LongDecoder {
    type Value = i64;

    fn buffer_len(&self, size_per: usize) -> usize {
        match self {
            LongDecoder::Longs(_) => size_per * 8 + 8,
            LongDecoder::Packed { bits, .. } => packed_len_bytes(*bits, size_per) + 4 + 8,
        }
    }

    fn decode(
        &self,
        raw: &[u8],
        raw_len: usize,
        count: usize,
        out: &mut Vec<i64>,
    ) -> Result<(), FormatError> {
        match self {
            LongDecoder::Longs(order) => {
                let needed = count * 8;
                if raw_len < needed {
                    return Err(corrupt(format!(
                        "block holds {raw_len} bytes, {count} longs need {needed}"
                    )));
                }
                out.clear();
                out.extend(
                    raw[..needed]
                        .chunks_exact(8)
                        .map(|chunk| i64::read(chunk, *order)),
                );
                Ok(())
            }
            LongDecoder::Packed {
                bits,
                base,
                table_opt,
            } => {
                if raw_len < packed_len_bytes(*bits, count) {
                    return Err(corrupt(format!(
                        "block holds {raw_len} bytes, too few for {count} packed values"
                    )));
                }
                out.clear();
                unpack(
                    raw,
                    *bits,
                    count,
                    |packed| match table_opt {
                        None => Ok(base.wrapping_add(packed as i64)),
                        Some(table) => table.get(packed as usize).copied().ok_or_else(|| {
                            corrupt(format!(
                                "table index {packed} beyond {} entries",
                                table.len()
                            ))
                        }),
                    },
                    out,
                )
            }
        }
    }
}

/// Returns the bytes `count` values of `bits` bits fill.
fn packed_len_bytes(bits: u32, count: usize) -> usize {
    (bits as usize * count).div_ceil(8)
}

/// Unpacks `count` MSB-first values of `bits` bits from `raw` (which has 8 bytes of slack).
fn unpack(
    raw: &[u8],
    bits: u32,
    count: usize,
    map: impl Fn(u64) -> Result<i64, FormatError>,
    out: &mut Vec<i64>,
) -> Result<(), FormatError> {
    debug_assert!(raw.len() >= packed_len_bytes(bits, count) + 8);
    for index in 0..count {
        let bit = index * bits as usize;
        let at = bit >> 3;
        let mut word = [0u8; 8];
        word.copy_from_slice(&raw[at..at + 8]);
        let word = u64::from_be_bytes(word);
        let packed = if bits == 64 {
            word
        } else {
            (word << (bit & 7)) >> (64 - bits)
        };
        out.push(map(packed)?);
    }
    Ok(())
}

/// Returns VSizeLongSerde's bit width for values up to `max` (`getBitsForMax`).
pub fn bits_for_max(max: u64) -> u32 {
    for bits in SUPPORTED_BITS {
        if bits >= 63 || max <= 1u64 << bits {
            return bits;
        }
    }
    64
}

/// Parses a long part (after the column descriptor) into a reader.
pub fn parse(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    ctx: Ctx,
) -> Result<LongColumn, FormatError> {
    let version = cursor.u8("long column version")?;
    if version == 0x01 {
        return Err(FormatError::Unsupported(
            "legacy LZF long column (version 1)".into(),
        ));
    }
    if version != 0x02 {
        return Err(corrupt(format!("unknown long column version {version}")));
    }
    let total = cursor.len_be("long column size")?;
    let size_per = cursor.len_be("long values per block")?;
    let mut compression_id = cursor.u8("long compression")?;
    let mut decoder = LongDecoder::Longs(order);
    if (compression_id as i8) < (0xFEu8 as i8) {
        compression_id = compression_id.wrapping_add(ENCODING_FLAG_OFFSET);
        decoder = parse_encoding(cursor, order)?;
    }
    let compression = Compression::from_id(compression_id)?;
    if decoder.buffer_len(size_per) > MAX_BLOCK_BYTES + 16 {
        return Err(corrupt(format!("{size_per} longs per block exceed 64 KiB")));
    }
    let blocks = parse_blocks(src, cursor, compression, total, size_per)?;
    Ok(BlockColumn::new(blocks, decoder, ctx))
}

fn parse_encoding(cursor: &mut Cursor<'_>, order: ByteOrder) -> Result<LongDecoder, FormatError> {
    let encoding = cursor.u8("long encoding")?;
    if encoding == 0xFF {
        return Ok(LongDecoder::Longs(order));
    }
    let header_version = cursor.u8("long encoding header version")?;
    if header_version != 1 {
        return Err(corrupt(format!(
            "unknown long encoding header version {header_version}"
        )));
    }
    match encoding {
        0x00 => {
            let base = cursor.i64_be("delta base")?;
            let bits = cursor.i32_be("delta bits")?;
            let bits = u32::try_from(bits)
                .ok()
                .filter(|b| SUPPORTED_BITS.contains(b));
            let bits = bits.ok_or_else(|| corrupt("unsupported delta bit width"))?;
            Ok(LongDecoder::Packed {
                bits,
                base,
                table_opt: None,
            })
        }
        0x01 => {
            let size = cursor.len_be("table size")?;
            if size > 256 {
                return Err(corrupt(format!("long table of {size} entries exceeds 256")));
            }
            let mut table = Vec::with_capacity(size);
            for _ in 0..size {
                table.push(cursor.i64_be("table entry")?);
            }
            Ok(LongDecoder::Packed {
                bits: bits_for_max(size as u64),
                base: 0,
                table_opt: Some(table.into()),
            })
        }
        other => Err(corrupt(format!("unknown long encoding {other:#04x}"))),
    }
}

/// Streams longs into LZ4 (or uncompressed) blocks of the `longs` encoding.
#[derive(Debug)]
pub struct LongColumnWriter {
    blocks: BlockWriter,
    total: usize,
}

impl LongColumnWriter {
    /// Starts a writer spilling its blocks to `spill`.
    pub fn new(spill: Spill, compression: Compression) -> Self {
        LongColumnWriter {
            blocks: BlockWriter::new(spill, LONGS_PER_BLOCK * 8, compression),
            total: 0,
        }
    }

    /// Appends one value.
    #[inline]
    pub fn push(&mut self, value: i64) -> std::io::Result<()> {
        self.total += 1;
        self.blocks.push(&value.to_le_bytes())
    }

    /// Writes the part (header and blocks) to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let compression = self.blocks.compression();
        let mut header = vec![0x02];
        header.extend_from_slice(&(self.total as i32).to_be_bytes());
        header.extend_from_slice(&(LONGS_PER_BLOCK as i32).to_be_bytes());
        header.push(compression.id());
        out.write_all(&header)?;
        self.blocks.finish()?.write_to(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: Vec<u8>) -> Result<Vec<i64>, FormatError> {
        let src = Bytes::from(bytes);
        let column = parse(
            &src,
            &mut Cursor::new(&src),
            ByteOrder::Little,
            Ctx::new("f", "c"),
        )?;
        let mut all = Vec::new();
        column
            .for_each_block(0, |_, values| all.extend_from_slice(values))
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(all)
    }

    #[test]
    fn writes_and_reads_longs_across_blocks() {
        let values: Vec<i64> = (0..20_000).map(|i| i * 1_000_003 - 7).collect();
        let mut writer = LongColumnWriter::new(Spill::memory(), Compression::Lz4);
        for v in &values {
            writer.push(*v).unwrap();
        }
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        assert_eq!(&out[..10], &[2, 0, 0, 0x4e, 0x20, 0, 0, 0x20, 0, 1]);
        assert_eq!(read_back(out.clone()).unwrap(), values);
        let src = Bytes::from(out);
        let column = parse(
            &src,
            &mut Cursor::new(&src),
            ByteOrder::Little,
            Ctx::new("f", "c"),
        )
        .unwrap();
        assert_eq!(column.get(8193).unwrap(), values[8193]);
        assert_eq!(column.get(5).unwrap(), values[5]);
        assert!(column.get(20_000).is_err());
        let mut seen = Vec::new();
        column
            .for_each_block(8000, |rows, vals| seen.push((rows, vals.len())))
            .unwrap();
        assert_eq!(
            seen,
            vec![(8000..8192, 192), (8192..16384, 8192), (16384..20000, 3616)]
        );
    }

    #[test]
    fn unpacks_druid_bit_order() {
        // Druid's Mult4Ser writes 12-bit values 0xABC, 0xDEF as AB CD EF; Size2Ser packs
        // 1,2,3,0 into 0b01_10_11_00.
        let mut out = Vec::new();
        unpack(
            &[0xAB, 0xCD, 0xEF, 0, 0, 0, 0, 0, 0, 0, 0],
            12,
            2,
            |v| Ok(v as i64),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0xABC, 0xDEF]);
        out.clear();
        unpack(
            &[0x6C, 0, 0, 0, 0, 0, 0, 0, 0],
            2,
            4,
            |v| Ok(v as i64),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [1, 2, 3, 0]);
        out.clear();
        unpack(
            &[0x12, 0x34, 0x56, 0x78, 0x9A, 0, 0, 0, 0, 0, 0, 0, 0],
            20,
            2,
            |v| Ok(v as i64),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0x12345, 0x6789A]);
    }

    #[test]
    fn reads_delta_and_table_encodings() {
        // delta: base 1000, 4 bits, values 1000+[3, 15, 0]
        let block = [0x3F, 0x00, 0, 0, 0, 0];
        let mut bytes = vec![2, 0, 0, 0, 3, 0, 0, 0x40, 0, 0xFFu8.wrapping_sub(126)];
        bytes.extend_from_slice(&[0x00, 0x01]);
        bytes.extend_from_slice(&1000i64.to_be_bytes());
        bytes.extend_from_slice(&4i32.to_be_bytes());
        bytes.extend_from_slice(&super::super::generic_indexed::write_in_memory(
            &[Some(&block)],
            false,
        ));
        assert_eq!(read_back(bytes).unwrap(), [1003, 1015, 1000]);
        // table: [-5, 77], 1 bit, values [77, -5, 77]
        let block = [0b1010_0000, 0, 0, 0, 0];
        let mut bytes = vec![
            2,
            0,
            0,
            0,
            3,
            0,
            0,
            0x40,
            0,
            0xFFu8.wrapping_sub(126),
            0x01,
            0x01,
            0,
            0,
            0,
            2,
        ];
        bytes.extend_from_slice(&(-5i64).to_be_bytes());
        bytes.extend_from_slice(&77i64.to_be_bytes());
        bytes.extend_from_slice(&super::super::generic_indexed::write_in_memory(
            &[Some(&block)],
            false,
        ));
        assert_eq!(read_back(bytes).unwrap(), [77, -5, 77]);
    }

    #[test]
    fn bit_widths_follow_vsize_long_serde() {
        assert_eq!(bits_for_max(0), 1);
        assert_eq!(bits_for_max(2), 1);
        assert_eq!(bits_for_max(3), 2);
        assert_eq!(bits_for_max(256), 8);
        assert_eq!(bits_for_max(257), 12);
        assert_eq!(bits_for_max(u64::MAX / 2), 64);
    }
}
