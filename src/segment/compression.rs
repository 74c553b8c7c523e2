//! Block compression shared by numeric and integer columns.
//!
//! A column's values are cut into blocks of at most 64 KiB uncompressed; each block is compressed
//! alone and the blocks are stored as a [`GenericIndexed`]:
//! ```text
//! strategy id (one byte, in the column header):
//!   0x00 LZF (ning chunk format)   -> read as an "unsupported" error
//!   0x01 LZ4 raw block (no frame, no length header)
//!   0xFF uncompressed (block bytes stored as they are)
//!   0xFE none: no blocks at all; the header's sizePer is 0 and the values follow the header
//!        (after the long encoding header, if any) up to the end of the column file
//!        (`EntireLayoutColumnar{Longs,Floats,Doubles}Serializer`; numeric columns only)
//! GenericIndexed element k = block k, which decompresses to sizePer values
//! (the last block may hold fewer, or be padded to the full size by old writers)
//! ```
//! The entire layout is read in place: [`Blocks`] cuts it into virtual blocks of a power of two
//! values so that scans and random access work the same way over every layout.

use bytes::Bytes;

pub use super::block_writer::{BlockWriter, ValueSink};
use super::format::{FormatError, corrupt};
use super::generic_indexed::GenericIndexed;

/// The uncompressed size limit of one block (`CompressedPools.BUFFER_SIZE`).
pub const MAX_BLOCK_BYTES: usize = 0x10000;

/// A block compression strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// LZF (legacy, not readable here).
    Lzf,
    /// Raw LZ4 blocks (the Druid default).
    Lz4,
    /// Blocks stored uncompressed.
    Uncompressed,
    /// No block layout at all (values follow the header).
    None,
}

impl Compression {
    /// Decodes a strategy id byte.
    pub fn from_id(id: u8) -> Result<Compression, FormatError> {
        match id {
            0x00 => Ok(Compression::Lzf),
            0x01 => Ok(Compression::Lz4),
            0xFF => Ok(Compression::Uncompressed),
            0xFE => Ok(Compression::None),
            other => Err(corrupt(format!("unknown compression id {other:#04x}"))),
        }
    }

    /// Returns the strategy id byte.
    pub fn id(self) -> u8 {
        match self {
            Compression::Lzf => 0x00,
            Compression::Lz4 => 0x01,
            Compression::Uncompressed => 0xFF,
            Compression::None => 0xFE,
        }
    }

    /// Fails unless blocks of this strategy can be decoded here (`none` has no blocks).
    pub fn check_readable(self) -> Result<(), FormatError> {
        match self {
            Compression::Lz4 | Compression::Uncompressed => Ok(()),
            Compression::Lzf => Err(FormatError::Unsupported("LZF compression".into())),
            Compression::None => Err(corrupt("compression `none` where blocks are expected")),
        }
    }

    /// Returns Druid's `indexSpec` name (`lz4`, `lzf`, `uncompressed`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Lzf => "lzf",
            Compression::Lz4 => "lz4",
            Compression::Uncompressed => "uncompressed",
            Compression::None => "none",
        }
    }

    /// Parses Druid's `indexSpec` name, in any case.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name.to_ascii_lowercase().as_str() {
            "lzf" => Some(Compression::Lzf),
            "lz4" => Some(Compression::Lz4),
            "uncompressed" => Some(Compression::Uncompressed),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
}

/// Decompresses one block into `dst`, returning the number of bytes produced, or `Ok(None)` when
/// `dst` is too small for the block.
pub fn decompress_block(
    compression: Compression,
    src: &[u8],
    dst: &mut [u8],
) -> Result<Option<usize>, FormatError> {
    match compression {
        Compression::Lz4 => match lz4_flex::block::decompress_into(src, dst) {
            Ok(len) => Ok(Some(len)),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => Ok(None),
            Err(e) => Err(corrupt(format!("bad LZ4 block: {e}"))),
        },
        Compression::Uncompressed => match dst.get_mut(..src.len()) {
            Some(target) => {
                target.copy_from_slice(src);
                Ok(Some(src.len()))
            }
            None => Ok(None),
        },
        other => {
            other.check_readable()?;
            Err(corrupt("unreadable compression"))
        }
    }
}

/// Where the values of a column are.
#[derive(Debug, Clone)]
enum Storage {
    /// A GenericIndexed of (compressed) blocks.
    Blocks(GenericIndexed),
    /// The entire layout: every value in one area, cut into virtual blocks of `block_bytes`.
    Entire { data: Bytes, block_bytes: usize },
}

/// The blocks of a column: count checks done on open, block decoding on demand.
#[derive(Debug, Clone)]
pub struct Blocks {
    storage: Storage,
    compression: Compression,
    total: usize,
    size_per: usize,
}

impl Blocks {
    /// Checks that `blocks` holds exactly enough blocks of `size_per` values for `total` values.
    pub fn new(
        blocks: GenericIndexed,
        compression: Compression,
        total: usize,
        size_per: usize,
    ) -> Result<Blocks, FormatError> {
        compression.check_readable()?;
        if size_per == 0 || size_per > MAX_BLOCK_BYTES * 8 {
            return Err(corrupt(format!("invalid values per block {size_per}")));
        }
        let expected = total.div_ceil(size_per);
        // Druid's bit-packed writers close an empty column with one block of closing bytes.
        let empty_closed = total == 0 && blocks.len() == 1;
        if blocks.len() != expected && !empty_closed {
            return Err(corrupt(format!(
                "{} blocks for {total} values of {size_per} per block",
                blocks.len()
            )));
        }
        Ok(Blocks {
            storage: Storage::Blocks(blocks),
            compression,
            total,
            size_per,
        })
    }

    /// Wraps the entire layout: `total` values of `value_bits` bits each in `data` (which may
    /// hold trailing bytes), read as virtual blocks of `size_per` values (a power of two >= 8, so
    /// every virtual block starts on a byte).
    pub fn entire(
        data: Bytes,
        total: usize,
        size_per: usize,
        value_bits: u32,
    ) -> Result<Blocks, FormatError> {
        debug_assert!(size_per.is_power_of_two() && size_per >= 8);
        let needed = total
            .checked_mul(value_bits as usize)
            .map(|bits| bits.div_ceil(8))
            .filter(|needed| *needed <= data.len());
        if needed.is_none() {
            return Err(corrupt(format!(
                "{total} values of {value_bits} bits do not fit in {} bytes",
                data.len()
            )));
        }
        Ok(Blocks {
            storage: Storage::Entire {
                data,
                block_bytes: size_per * value_bits as usize / 8,
            },
            compression: Compression::None,
            total,
            size_per,
        })
    }

    /// Returns the number of values.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Returns the number of values per full block.
    pub fn size_per(&self) -> usize {
        self.size_per
    }

    /// Returns the number of blocks.
    pub fn num_blocks(&self) -> usize {
        match &self.storage {
            Storage::Blocks(blocks) => blocks.len(),
            Storage::Entire { .. } => self.total.div_ceil(self.size_per),
        }
    }

    /// Returns how many values block `block` holds.
    pub fn values_in_block(&self, block: usize) -> usize {
        (self.total - block * self.size_per).min(self.size_per)
    }

    /// Decompresses block `block` into `dst`; `Ok(None)` means `dst` is too small.
    pub fn decompress(&self, block: usize, dst: &mut [u8]) -> Result<Option<usize>, FormatError> {
        match self.raw_block(block)? {
            Some(raw) => decompress_block(Compression::Uncompressed, raw, dst),
            None => match &self.storage {
                Storage::Blocks(blocks) => {
                    decompress_block(self.compression, blocks.get(block)?, dst)
                }
                Storage::Entire { .. } => Err(corrupt("entire layout has no compressed block")),
            },
        }
    }

    /// Returns the bytes of block `block` when they are stored as they are (uncompressed blocks
    /// and the entire layout), `None` when the block must be decompressed.
    #[inline]
    pub fn raw_block(&self, block: usize) -> Result<Option<&[u8]>, FormatError> {
        match &self.storage {
            Storage::Blocks(blocks) if self.compression == Compression::Uncompressed => {
                blocks.get(block).map(Some)
            }
            Storage::Blocks(_) => Ok(None),
            Storage::Entire { data, block_bytes } => {
                let start = (block * block_bytes).min(data.len());
                let end = (start + block_bytes).min(data.len());
                Ok(Some(&data[start..end]))
            }
        }
    }

    /// Returns the compression strategy.
    pub fn compression(&self) -> Compression {
        self.compression
    }
}

/// Parses the value area after a numeric header: a GenericIndexed of blocks, or for `none` the
/// rest of the column file (values of `value_bits` bits).
pub fn parse_blocks(
    src: &Bytes,
    cursor: &mut super::format::Cursor<'_>,
    compression: Compression,
    total: usize,
    size_per: usize,
    value_bits: u32,
) -> Result<Blocks, FormatError> {
    if compression == Compression::None {
        let start = cursor.position();
        let rest = cursor.remaining();
        cursor.take(rest, "entire layout values")?;
        return Blocks::entire(
            src.slice(start..start + rest),
            total,
            entire_values_per_block(value_bits),
            value_bits,
        );
    }
    compression.check_readable()?;
    let blocks = GenericIndexed::parse(src, cursor)?;
    Blocks::new(blocks, compression, total, size_per)
}

/// Returns the virtual block size of the entire layout: the largest power of two of values of
/// `value_bits` bits that fits in 64 KiB.
pub fn entire_values_per_block(value_bits: u32) -> usize {
    let max = MAX_BLOCK_BYTES * 8 / value_bits.max(1) as usize;
    1 << (usize::BITS - 1 - max.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::spill::Spill;

    fn write_blocks(data: &[u8], block_bytes: usize, compression: Compression) -> Bytes {
        let mut writer = BlockWriter::new(Spill::memory(), block_bytes, compression);
        for chunk in data.chunks(8) {
            writer.push(chunk).unwrap();
        }
        let mut out = Vec::new();
        writer.finish().unwrap().write_to(&mut out).unwrap();
        Bytes::from(out)
    }

    #[test]
    fn blocks_round_trip_with_lz4_and_uncompressed() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i as u64 * 7).to_le_bytes())
            .take(1_600_000)
            .collect();
        for compression in [Compression::Lz4, Compression::Uncompressed] {
            let bytes = write_blocks(&data, 65536, compression);
            let blocks = Blocks::new(
                GenericIndexed::parse_all(&bytes).unwrap(),
                compression,
                data.len() / 8,
                8192,
            )
            .unwrap();
            let mut buf = vec![0u8; MAX_BLOCK_BYTES];
            let mut all = Vec::new();
            for b in 0..blocks.num_blocks() {
                let len = blocks.decompress(b, &mut buf).unwrap().unwrap();
                assert_eq!(len, blocks.values_in_block(b) * 8);
                all.extend_from_slice(&buf[..len]);
            }
            assert_eq!(all, data);
        }
    }

    #[test]
    fn wrong_block_counts_and_bad_strategies_are_errors() {
        let bytes = write_blocks(&[1u8; 16], 65536, Compression::Lz4);
        let gi = GenericIndexed::parse_all(&bytes).unwrap();
        assert!(Blocks::new(gi.clone(), Compression::Lz4, 100_000, 8192).is_err());
        assert!(matches!(
            Blocks::new(gi, Compression::Lzf, 2, 8192),
            Err(FormatError::Unsupported(_))
        ));
        assert!(Compression::from_id(7).is_err());
        let mut small = [0u8; 4];
        assert_eq!(
            decompress_block(Compression::Uncompressed, &[1; 8], &mut small),
            Ok(None)
        );
        assert!(decompress_block(Compression::Lz4, &[0xff, 0xff, 0xff], &mut [0u8; 64]).is_err());
    }
}
