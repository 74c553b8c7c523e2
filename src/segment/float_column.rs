//! Float columns: part type `float` (`floatSum`, `floatMin`, … metrics).
//!
//! ```text
//! +------+-----------+-------------+-------------+----------------------------------------------+
//! | 0x02 | total i32 | sizePer i32 | compression | GenericIndexed of blocks; each block holds   |
//! |      | (rows)    | 16384       | 0x01 = LZ4  | sizePer IEEE-754 floats in the part's order  |
//! +------+-----------+-------------+-------------+----------------------------------------------+
//! none (`metricCompression: none`, EntireLayoutColumnarFloatsSerializer):
//!   0x02 | total i32 | sizePer i32 = 0 | 0xFE | total floats in the part's order, nothing after
//! ```
//! There is no encoding byte (unlike longs).

use bytes::Bytes;

use super::block_column::{BlockColumn, ByteOrder, FixedDecoder};
use super::compression::{Compression, ValueSink};
use super::error::Ctx;
use super::format::{Cursor, FormatError};
use super::spill::Spill;

/// Values per block (64 KiB / 4).
pub const FLOATS_PER_BLOCK: usize = 16384;

/// A float column reader.
pub type FloatColumn = BlockColumn<FixedDecoder<f32>>;

/// Parses a float part (after the column descriptor).
pub fn parse(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    ctx: Ctx,
) -> Result<FloatColumn, FormatError> {
    let blocks = super::double_column::parse_fixed_header(src, cursor, 4, "float")?;
    Ok(BlockColumn::new(blocks, FixedDecoder::new(order), ctx))
}

/// Streams floats into compressed blocks.
#[derive(Debug)]
pub struct FloatColumnWriter {
    blocks: ValueSink,
    total: usize,
}

impl FloatColumnWriter {
    /// Starts a writer spilling its blocks to `spill`.
    pub fn new(spill: Spill, compression: Compression) -> Self {
        FloatColumnWriter {
            blocks: ValueSink::new(spill, FLOATS_PER_BLOCK * 4, compression),
            total: 0,
        }
    }

    /// Appends one value.
    #[inline]
    pub fn push(&mut self, value: f32) -> std::io::Result<()> {
        self.total += 1;
        self.blocks.push(&value.to_le_bytes())
    }

    /// Writes the part to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        super::double_column::write_fixed_part(out, self.total, FLOATS_PER_BLOCK, self.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_across_blocks() {
        let values: Vec<f32> = (0..40_000).map(|i| i as f32 * 0.25 - 3.0).collect();
        let mut writer = FloatColumnWriter::new(Spill::memory(), Compression::Uncompressed);
        values.iter().for_each(|v| writer.push(*v).unwrap());
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        assert_eq!(&out[5..10], &[0, 0, 0x40, 0, 0xff]);
        let src = Bytes::from(out);
        let column = parse(
            &src,
            &mut Cursor::new(&src),
            ByteOrder::Little,
            Ctx::new("f", "c"),
        )
        .unwrap();
        assert_eq!(column.len(), 40_000);
        assert_eq!(column.get(39_999).unwrap(), values[39_999]);
        let mut all = Vec::new();
        column
            .for_each_block(0, |_, v| all.extend_from_slice(v))
            .unwrap();
        assert_eq!(all, values);
    }
}
