//! Long columns (`__time`, long dimensions and metrics): part type `long`
//! (`CompressedColumnarLongsSupplier`, written by `BlockLayoutColumnarLongsSerializer` and
//! `EntireLayoutColumnarLongsSerializer`).
//!
//! ```text
//! +------+-----------+-------------+-------------+ - - - - - - - - - - - - - -+-----------------+
//! | 0x02 | total i32 | sizePer i32 | compression | encoding byte + header     | values          |
//! |      | (rows)    | (per block; |  (or id-126 | (only when the compression |                 |
//! |      |           |  0 for none)|  + encoding)| byte carries the flag)     |                 |
//! +------+-----------+-------------+-------------+ - - - - - - - - - - - - - -+-----------------+
//! encodings (the flag: compression byte = id - 126, e.g. lz4 0x01 -> 0x83, none 0xFE -> 0x80):
//!   longs (no flag, encoding byte 0xFF implied): 8-byte values in the part's byte order
//!   delta (0x00): header 0x01 | base i64be | bitsPerValue i32be; value = base + packed
//!   table (0x01): header 0x01 | size i32be | size x i64be;       value = table[packed]
//!                 (table entries in order of first appearance, packed = the entry's index)
//! values:
//!   blocks (lz4 0x01, uncompressed 0xFF): GenericIndexed of blocks of sizePer values;
//!     longs: sizePer = 8192; delta/table: sizePer = vsize_longs::values_per_block(bits, 64 KiB)
//!     and every block is its own packed stream closed by 4 zero bytes
//!   none (0xFE): sizePer = 0; the values to the end of the column file (packed: one stream,
//!     closed by 4 zero bytes)
//! packed = VSizeLongSerde, see `vsize_longs`
//! ```
//! Version `0x01` (legacy LZF-only) is read as "unsupported". The writer is `long_writer`.

use std::sync::Arc;

use bytes::Bytes;

use super::block_column::{BlockColumn, BlockDecoder, ByteOrder, Fixed};
use super::compression::{Compression, MAX_BLOCK_BYTES, parse_blocks};
use super::error::Ctx;
use super::format::{Cursor, FormatError, corrupt};
use super::prefetch::{AHEAD_ROWS, prefetch};
use super::vsize_longs::{self, SUPPORTED_BITS};

pub use super::long_writer::LongColumnWriter;
pub use super::vsize_longs::bits_for_max;

/// Values per block of the `longs` encoding (64 KiB / 8).
pub const LONGS_PER_BLOCK: usize = 8192;
/// Encoding flag offset: a compression byte below `0xFE` (signed) announces an encoding byte.
pub const ENCODING_FLAG_OFFSET: u8 = 126;
/// Largest table of the table encoding (`CompressionFactory.MAX_TABLE_SIZE`).
pub const MAX_TABLE_SIZE: usize = 256;

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

fn table_entry(table: &[i64], packed: u64) -> Result<i64, FormatError> {
    table.get(packed as usize).copied().ok_or_else(|| {
        corrupt(format!(
            "table index {packed} beyond {} entries",
            table.len()
        ))
    })
}

impl LongDecoder {
    /// Returns the bits one value occupies.
    pub fn value_bits(&self) -> u32 {
        match self {
            LongDecoder::Longs(_) => 64,
            LongDecoder::Packed { bits, .. } => *bits,
        }
    }
}

impl BlockDecoder for LongDecoder {
    type Value = i64;

    fn buffer_len(&self, size_per: usize) -> usize {
        match self {
            LongDecoder::Longs(_) => size_per * 8 + 8,
            LongDecoder::Packed { bits, .. } => {
                vsize_longs::serialized_len_bytes(*bits, size_per) + 8
            }
        }
    }

    fn bytes_for(&self, count: usize) -> usize {
        vsize_longs::packed_len_bytes(self.value_bits(), count)
    }

    #[inline]
    fn get(&self, raw: &[u8], index: usize) -> Result<i64, FormatError> {
        match self {
            LongDecoder::Longs(order) => Ok(i64::read(&raw[index * 8..index * 8 + 8], *order)),
            LongDecoder::Packed {
                bits,
                base,
                table_opt,
            } => {
                let packed = vsize_longs::get(raw, *bits, index);
                match table_opt {
                    None => Ok(base.wrapping_add(packed as i64)),
                    Some(table) => table_entry(table, packed),
                }
            }
        }
    }

    fn gather_raw(
        &self,
        raw: &[u8],
        block_start: u32,
        rows: &[u32],
        first: usize,
        f: &mut impl FnMut(usize, i64),
    ) -> Result<(), FormatError> {
        let offsets = rows.iter().map(|r| (r - block_start) as usize);
        let ahead = |k: usize, bits: usize| {
            if let Some(r) = rows.get(k + AHEAD_ROWS) {
                prefetch(raw, (r - block_start) as usize * bits / 8);
            }
        };
        match self {
            LongDecoder::Longs(ByteOrder::Little) => {
                for (k, at) in offsets.enumerate() {
                    ahead(k, 64);
                    let bytes: [u8; 8] = raw[at * 8..at * 8 + 8].try_into().expect("8 bytes");
                    f(first + k, i64::from_le_bytes(bytes));
                }
            }
            LongDecoder::Packed {
                bits,
                base,
                table_opt: None,
            } => {
                for (k, at) in offsets.enumerate() {
                    ahead(k, *bits as usize);
                    f(
                        first + k,
                        base.wrapping_add(vsize_longs::get(raw, *bits, at) as i64),
                    );
                }
            }
            _ => {
                for (k, at) in offsets.enumerate() {
                    f(first + k, self.get(raw, at)?);
                }
            }
        }
        Ok(())
    }

    fn decode(&self, raw: &[u8], count: usize, out: &mut Vec<i64>) -> Result<(), FormatError> {
        out.clear();
        match self {
            LongDecoder::Longs(order) => {
                out.extend(raw.chunks_exact(8).map(|chunk| i64::read(chunk, *order)))
            }
            LongDecoder::Packed {
                bits,
                base,
                table_opt: None,
            } => vsize_longs::unpack(raw, *bits, 0, count, out, |p| base.wrapping_add(p as i64)),
            LongDecoder::Packed {
                bits,
                table_opt: Some(table),
                ..
            } => {
                let mut packed = Vec::with_capacity(count);
                vsize_longs::unpack(raw, *bits, 0, count, &mut packed, |p| p);
                for p in packed {
                    out.push(table_entry(table, p)?);
                }
            }
        }
        Ok(())
    }
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
    let blocks = parse_blocks(
        src,
        cursor,
        compression,
        total,
        size_per,
        decoder.value_bits(),
    )?;
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
            if size > MAX_TABLE_SIZE {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn read_back(bytes: Vec<u8>) -> Result<Vec<i64>, FormatError> {
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
        let mut bytes = vec![2, 0, 0, 0, 3, 0, 0, 0x40, 0, 0xFFu8.wrapping_sub(126)];
        bytes.extend_from_slice(&[0x01, 0x01, 0, 0, 0, 2]);
        bytes.extend_from_slice(&(-5i64).to_be_bytes());
        bytes.extend_from_slice(&77i64.to_be_bytes());
        bytes.extend_from_slice(&super::super::generic_indexed::write_in_memory(
            &[Some(&block)],
            false,
        ));
        assert_eq!(read_back(bytes).unwrap(), [77, -5, 77]);
    }

    #[test]
    fn reads_the_entire_layout_in_place() {
        // EntireLayoutColumnarLongsSerializer, delta 4 bits: 02 | 3 | 0 | 0x80 | 00 01 base bits
        let mut bytes = vec![2, 0, 0, 0, 3, 0, 0, 0, 0, 0x80, 0x00, 0x01];
        bytes.extend_from_slice(&(-2i64).to_be_bytes());
        bytes.extend_from_slice(&4i32.to_be_bytes());
        bytes.extend_from_slice(&[0x3F, 0x00, 0, 0, 0, 0]);
        assert_eq!(read_back(bytes).unwrap(), [1, 13, -2]);
        // longs: 02 | 2 | 0 | FE | LE longs
        let mut bytes = vec![2, 0, 0, 0, 2, 0, 0, 0, 0, 0xFE];
        bytes.extend_from_slice(&i64::MIN.to_le_bytes());
        bytes.extend_from_slice(&i64::MAX.to_le_bytes());
        assert_eq!(read_back(bytes.clone()).unwrap(), [i64::MIN, i64::MAX]);
        bytes.pop();
        assert!(read_back(bytes).is_err());
    }
}
