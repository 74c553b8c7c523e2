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
//! uncompressed single-value (version 0x00 of the string part):
//!   0x00 | numBytes u8 | size i32 | values big-endian, numBytes each | 4 - numBytes padding
//! uncompressed multi-value (version 0x01 of the string part):
//!   0x01 | numBytes u8 | size i32 | count i32 | count x end byte offset i32 | values (BE)
//! ```

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

    fn buffer_len(&self, size_per: usize) -> usize {
        size_per * self.num_bytes + 8
    }

    #[inline]
    fn decode(
        &self,
        raw: &[u8],
        raw_len: usize,
        count: usize,
        out: &mut Vec<u32>,
    ) -> Result<(), FormatError> {
        let needed = count * self.num_bytes;
        if raw_len < needed {
            return Err(corrupt(format!(
                "block holds {raw_len} bytes, {count} ids need {needed}"
            )));
        }
        out.clear();
        let chunks = raw[..needed].chunks_exact(self.num_bytes);
        match (self.num_bytes, self.order) {
            (1, _) => out.extend(raw[..needed].iter().map(|b| *b as u32)),
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
    let blocks = parse_blocks(src, cursor, compression, total, size_per)?;
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
    Ok(BlockColumn::new(blocks, FixedDecoder::new(order), ctx))
}

/// Uncompressed big-endian vsize ints (string part versions 0x00 and 0x01) read in place.
#[derive(Debug, Clone)]
pub struct PlainInts {
    values: Bytes,
    num_bytes: usize,
}

impl PlainInts {
    /// Returns the number of values.
    pub fn len(&self) -> usize {
        self.values.len() / self.num_bytes
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Returns value `index` (caller checks the range).
    pub fn get(&self, index: usize) -> Result<u32, FormatError> {
        let start = index * self.num_bytes;
        let bytes = self
            .values
            .get(start..start + self.num_bytes)
            .ok_or_else(|| corrupt("id index out of range"))?;
        Ok(bytes.iter().fold(0u32, |acc, b| acc << 8 | *b as u32))
    }
}

fn parse_width(cursor: &mut Cursor<'_>) -> Result<usize, FormatError> {
    let num_bytes = cursor.u8("vsize width")? as usize;
    if !(1..=4).contains(&num_bytes) {
        return Err(corrupt(format!("vsize int width {num_bytes} not in 1..=4")));
    }
    Ok(num_bytes)
}

/// Parses an uncompressed single-value column (after its version byte 0x00).
pub fn parse_plain_single(src: &Bytes, cursor: &mut Cursor<'_>) -> Result<PlainInts, FormatError> {
    let num_bytes = parse_width(cursor)?;
    let size = cursor.len_be("vsize size")?;
    let start = cursor.position();
    cursor.take(size, "vsize values")?;
    let used = size
        .checked_sub(4 - num_bytes)
        .ok_or_else(|| corrupt("vsize size smaller than its padding"))?;
    let used = used - used % num_bytes;
    Ok(PlainInts {
        values: src.slice(start..start + used),
        num_bytes,
    })
}

/// Uncompressed multi-value ids: per row a run of big-endian vsize ints.
#[derive(Debug, Clone)]
pub struct PlainMulti {
    ends: Bytes,
    values: Bytes,
    num_bytes: usize,
    count: usize,
}

impl PlainMulti {
    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn end(&self, row: usize) -> usize {
        let raw = &self.ends[row * 4..row * 4 + 4];
        u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize
    }

    /// Appends the ids of `row` to `out`.
    pub fn row(&self, row: usize, out: &mut Vec<u32>) -> Result<(), FormatError> {
        if row >= self.count {
            return Err(corrupt(format!("row {row} out of range")));
        }
        let start = if row == 0 { 0 } else { self.end(row - 1) };
        let end = self.end(row);
        let bytes = self
            .values
            .get(start..end)
            .ok_or_else(|| corrupt(format!("row {row} spans {start}..{end} outside values")))?;
        if bytes.len() % self.num_bytes != 0 {
            return Err(corrupt(format!(
                "row {row} byte length not a multiple of {}",
                self.num_bytes
            )));
        }
        out.extend(
            bytes
                .chunks_exact(self.num_bytes)
                .map(|c| c.iter().fold(0u32, |acc, b| acc << 8 | *b as u32)),
        );
        Ok(())
    }
}

/// Parses an uncompressed multi-value column (after its version byte 0x01).
pub fn parse_plain_multi(src: &Bytes, cursor: &mut Cursor<'_>) -> Result<PlainMulti, FormatError> {
    let num_bytes = parse_width(cursor)?;
    let size = cursor.len_be("multi-value size")?;
    let region_start = cursor.position();
    let region = cursor.take(size.min(cursor.remaining()), "multi-value region")?;
    let mut inner = Cursor::new(region);
    let count = inner.len_be("multi-value count")?;
    let ends_len = count.checked_mul(4).filter(|len| *len <= inner.remaining());
    let ends_len =
        ends_len.ok_or_else(|| corrupt(format!("multi-value count {count} exceeds its size")))?;
    let ends_start = region_start + 4;
    let values_start = ends_start + ends_len;
    Ok(PlainMulti {
        ends: src.slice(ends_start..values_start),
        values: src.slice(values_start..region_start + region.len()),
        num_bytes,
        count,
    })
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
        self.blocks.push(&id.to_le_bytes()[..self.num_bytes])
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

    #[test]
    fn plain_forms_read_big_endian_values() {
        let single = Bytes::from_static(&[2, 0, 0, 0, 6, 0, 1, 0x01, 0x02, 0, 0]);
        let mut cursor = Cursor::new(&single);
        let ints = parse_plain_single(&single, &mut cursor).unwrap();
        assert_eq!(
            (ints.len(), ints.get(0).unwrap(), ints.get(1).unwrap()),
            (2, 1, 0x0102)
        );
        // two rows: [5, 6] and []
        let multi = Bytes::from_static(&[
            1, 0, 0, 0, 17, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 5, 6, 0, 0, 0,
        ]);
        let mut cursor = Cursor::new(&multi);
        let parsed = parse_plain_multi(&multi, &mut cursor).unwrap();
        let mut row = Vec::new();
        parsed.row(0, &mut row).unwrap();
        parsed.row(1, &mut row).unwrap();
        assert_eq!((parsed.len(), row), (2, vec![5, 6]));
        assert!(parsed.row(2, &mut Vec::new()).is_err());
    }
}
