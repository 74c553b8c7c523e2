//! Dictionary-id storage of string columns: variable-size ints, single- and multi-value.
//!
//! ```text
//! compressed single-value (CompressedVSizeColumnarInts, the default):
//!   0x02 | numBytes u8 | total i32 | sizePer i32 | compression | GenericIndexed of blocks
//!   block = sizePer values of numBytes bytes each (LE: the low bytes of the int)
//!   numBytes: 1 if max <= 0xFF, 2 if <= 0xFFFF, 3 if <= 0xFFFFFF, else 4 (max = cardinality)
//!   sizePer : largest power of two <= (65536 - pad) / numBytes, pad = 1 for numBytes 3
//! compressed 4-byte ints (CompressedColumnarInts, the offsets of V3 multi-value):
//!   0x02 | total i32 | sizePer i32 | compression | GenericIndexed of blocks of i32
//! multi-value V3 (flag MULTI_VALUE_V3): 0x03 | offsets (4-byte ints, rows + 1) | values (vsize)
//! multi-value V2 (legacy flag MULTI_VALUE): 0x02 | offsets (vsize, rows + 1) | values (vsize)
//!   row r holds values[offsets[r] .. offsets[r + 1]]
//! ```
//! The uncompressed forms (`dimensionCompression: uncompressed`) are in `plain_ints`.

use bytes::Bytes;

use super::block_column::{BlockColumn, BlockDecoder, ByteOrder, FixedDecoder};
use super::compression::{BlockWriter, Compression, MAX_BLOCK_BYTES, parse_blocks};
use super::error::Ctx;
use super::format::{Cursor, FormatError, corrupt};
use super::spill::Spill;

/// Decoder of blocks of `num_bytes`-wide unsigned ints.
#[derive(Debug, Clone, Copy)]
pub struct VSizeDecoder {
    num_bytes: usize,
    order: ByteOrder,
}

impl BlockDecoder for VSizeDecoder {
    type Value = u32;

    fn bytes_for(&self, count: usize) -> usize {
        count * self.num_bytes
    }

    #[inline]
    fn get(&self, raw: &[u8], index: usize) -> Result<u32, FormatError> {
        let bytes = &raw[index * self.num_bytes..(index + 1) * self.num_bytes];
        Ok(match self.order {
            ByteOrder::Little => bytes.iter().rev().fold(0u32, |acc, b| acc << 8 | *b as u32),
            ByteOrder::Big => bytes.iter().fold(0u32, |acc, b| acc << 8 | *b as u32),
        })
    }

    fn buffer_len(&self, size_per: usize) -> usize {
        size_per * self.num_bytes + 8
    }

    #[inline]
    fn decode(&self, raw: &[u8], _count: usize, out: &mut Vec<u32>) -> Result<(), FormatError> {
        out.clear();
        let chunks = raw.chunks_exact(self.num_bytes);
        match (self.num_bytes, self.order) {
            (1, _) => out.extend(raw.iter().map(|b| *b as u32)),
            (_, ByteOrder::Little) => {
                out.extend(chunks.map(|c| c.iter().rev().fold(0u32, |acc, b| acc << 8 | *b as u32)))
            }
            (_, ByteOrder::Big) => {
                out.extend(chunks.map(|c| c.iter().fold(0u32, |acc, b| acc << 8 | *b as u32)))
            }
        }
        Ok(())
    }
}

/// A compressed vsize int column.
pub type VSizeInts = BlockColumn<VSizeDecoder>;
/// A compressed 4-byte int column.
pub type Ints = BlockColumn<FixedDecoder<i32>>;

/// Returns the byte width for values up to `max_value`.
pub fn num_bytes_for_max(max_value: u32) -> usize {
    match max_value {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    }
}

/// Returns the values per block for `num_bytes`-wide values.
pub fn values_per_block(num_bytes: usize) -> usize {
    let pad = if num_bytes == 3 { 1 } else { 0 };
    let max = (MAX_BLOCK_BYTES - pad) / num_bytes;
    1 << (usize::BITS - 1 - max.leading_zeros())
}

/// Parses a compressed vsize int column (`0x02 | numBytes | …`).
pub fn parse_vsize(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    ctx: Ctx,
) -> Result<VSizeInts, FormatError> {
    let version = cursor.u8("vsize ints version")?;
    if version != 0x02 {
        return Err(corrupt(format!(
            "unknown compressed vsize ints version {version}"
        )));
    }
    let num_bytes = cursor.u8("vsize ints width")? as usize;
    if !(1..=4).contains(&num_bytes) {
        return Err(corrupt(format!("vsize int width {num_bytes} not in 1..=4")));
    }
    let total = cursor.len_be("vsize ints size")?;
    let size_per = cursor.len_be("vsize ints per block")?;
    if size_per.saturating_mul(num_bytes) > MAX_BLOCK_BYTES {
        return Err(corrupt(format!("{size_per} ids per block exceed 64 KiB")));
    }
    let compression = Compression::from_id(cursor.u8("vsize ints compression")?)?;
    compression.check_readable()?;
    let blocks = parse_blocks(
        src,
        cursor,
        compression,
        total,
        size_per,
        num_bytes as u32 * 8,
    )?;
    Ok(BlockColumn::new(
        blocks,
        VSizeDecoder { num_bytes, order },
        ctx,
    ))
}

/// Parses a compressed 4-byte int column (`0x02 | total | sizePer | …`).
pub fn parse_ints(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    ctx: Ctx,
) -> Result<Ints, FormatError> {
    let blocks = super::double_column::parse_fixed_header(src, cursor, 4, "int")?;
    blocks.compression().check_readable()?;
    Ok(BlockColumn::new(blocks, FixedDecoder::new(order), ctx))
}

/// Streams ids into compressed vsize blocks.
#[derive(Debug)]
pub struct VSizeIntsWriter {
    blocks: BlockWriter,
    num_bytes: usize,
    size_per: usize,
    total: usize,
}

impl VSizeIntsWriter {
    /// Starts a writer for ids up to `max_value`.
    pub fn new(spill: Spill, compression: Compression, max_value: u32) -> Self {
        let num_bytes = num_bytes_for_max(max_value);
        let size_per = values_per_block(num_bytes);
        VSizeIntsWriter {
            blocks: BlockWriter::new(spill, size_per * num_bytes, compression),
            num_bytes,
            size_per,
            total: 0,
        }
    }

    /// Appends one id.
    #[inline]
    pub fn push(&mut self, id: u32) -> std::io::Result<()> {
        self.total += 1;
        let bytes = id.to_le_bytes();
        // One arm per width, so that each copy has a constant length (no `memcpy` call).
        match self.num_bytes {
            1 => self.blocks.push(&bytes[..1]),
            2 => self.blocks.push(&bytes[..2]),
            3 => self.blocks.push(&bytes[..3]),
            _ => self.blocks.push(&bytes),
        }
    }

    /// Appends ids.
    pub fn push_all(&mut self, ids: &[u32]) -> std::io::Result<()> {
        self.total += ids.len();
        self.blocks.push_packed(ids, self.num_bytes)
    }

    /// Writes `0x02 | numBytes | total | sizePer | compression | blocks` to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut header = vec![0x02, self.num_bytes as u8];
        header.extend_from_slice(&(self.total as i32).to_be_bytes());
        header.extend_from_slice(&(self.size_per as i32).to_be_bytes());
        header.push(self.blocks.compression().id());
        out.write_all(&header)?;
        self.blocks.finish()?.write_to(out)
    }
}

/// Values per block of the 4-byte offsets of V3 multi-value columns.
pub const OFFSETS_PER_BLOCK: usize = 16384;

/// Streams 4-byte ints (V3 offsets) into compressed blocks.
#[derive(Debug)]
pub struct IntsWriter {
    blocks: BlockWriter,
    total: usize,
}

impl IntsWriter {
    /// Starts a writer spilling to `spill`.
    pub fn new(spill: Spill, compression: Compression) -> Self {
        IntsWriter {
            blocks: BlockWriter::new(spill, OFFSETS_PER_BLOCK * 4, compression),
            total: 0,
        }
    }

    /// Appends one int.
    #[inline]
    pub fn push(&mut self, value: u32) -> std::io::Result<()> {
        self.total += 1;
        self.blocks.push(&value.to_le_bytes())
    }

    /// Writes `0x02 | total | sizePer | compression | blocks` to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        super::double_column::write_fixed_header(
            out,
            self.total,
            OFFSETS_PER_BLOCK,
            self.blocks.compression(),
        )?;
        self.blocks.finish()?.write_to(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_block_sizes_follow_druid() {
        assert_eq!(num_bytes_for_max(255), 1);
        assert_eq!(num_bytes_for_max(256), 2);
        assert_eq!(num_bytes_for_max(0x1_0000), 3);
        assert_eq!(num_bytes_for_max(0x100_0000), 4);
        assert_eq!(
            [1, 2, 3, 4].map(values_per_block),
            [65536, 32768, 16384, 16384]
        );
    }

    #[test]
    fn ids_pushed_in_slices_are_the_bytes_of_ids_pushed_one_by_one() {
        for max in [3u32, 300, 70_000, 20_000_000] {
            let ids: Vec<u32> = (0..70_000u32).map(|i| (i * 7919) % (max + 1)).collect();
            let written = |push: &dyn Fn(&mut VSizeIntsWriter)| {
                let mut writer = VSizeIntsWriter::new(Spill::memory(), Compression::Lz4, max);
                push(&mut writer);
                let mut out = Vec::new();
                writer.write_to(&mut out).unwrap();
                out
            };
            let one_by_one = written(&|w| ids.iter().for_each(|id| w.push(*id).unwrap()));
            // Slices of uneven lengths, crossing block boundaries mid-slice.
            let sliced = written(&|w| {
                let (mut rest, mut len) = (&ids[..], 1);
                while !rest.is_empty() {
                    let (now, later) = rest.split_at(len.min(rest.len()));
                    w.push_all(now).unwrap();
                    (rest, len) = (later, len * 3 + 1);
                }
            });
            assert_eq!(sliced, one_by_one, "max {max}");
        }
    }

    #[test]
    fn vsize_ids_round_trip_for_every_width() {
        for max in [3u32, 300, 70_000, 20_000_000] {
            let ids: Vec<u32> = (0..100_000u32).map(|i| (i * 7919) % (max + 1)).collect();
            let mut writer = VSizeIntsWriter::new(Spill::memory(), Compression::Lz4, max);
            ids.iter().for_each(|id| writer.push(*id).unwrap());
            let mut out = Vec::new();
            writer.write_to(&mut out).unwrap();
            let src = Bytes::from(out);
            let column = parse_vsize(
                &src,
                &mut Cursor::new(&src),
                ByteOrder::Little,
                Ctx::new("f", "c"),
            )
            .unwrap();
            let mut all = Vec::new();
            column
                .for_each_block(0, |_, v| all.extend_from_slice(v))
                .unwrap();
            assert_eq!(all, ids, "max {max}");
        }
    }
}
