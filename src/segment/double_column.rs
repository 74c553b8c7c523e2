//! Double columns: part type `double` (`doubleSum`, … metrics, Druid ≥ 0.12).
//!
//! ```text
//! +------+-----------+-------------+-------------+----------------------------------------------+
//! | 0x02 | total i32 | sizePer i32 | compression | GenericIndexed of blocks; each block holds   |
//! |      | (rows)    | 8192        | 0x01 = LZ4  | sizePer IEEE-754 doubles in the part's order |
//! +------+-----------+-------------+-------------+----------------------------------------------+
//! none (`metricCompression: none`, EntireLayoutColumnarDoublesSerializer):
//!   0x02 | total i32 | sizePer i32 = 0 | 0xFE | total doubles in the part's order, nothing after
//! ```
//! The same header (without encodings) serves floats, see `float_column`.

use bytes::Bytes;

use super::block_column::{BlockColumn, ByteOrder, FixedDecoder};
use super::compression::{Blocks, Compression, MAX_BLOCK_BYTES, ValueSink, parse_blocks};
use super::error::Ctx;
use super::format::{Cursor, FormatError, corrupt};
use super::spill::Spill;

/// Values per block (64 KiB / 8).
pub const DOUBLES_PER_BLOCK: usize = 8192;

/// A double column reader.
pub type DoubleColumn = BlockColumn<FixedDecoder<f64>>;

/// Parses the `version | total | sizePer | compression | blocks` header of fixed-width values.
pub(crate) fn parse_fixed_header(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    value_bytes: usize,
    kind: &str,
) -> Result<Blocks, FormatError> {
    let version = cursor.u8("column version")?;
    if version == 0x01 {
        return Err(FormatError::Unsupported(format!(
            "legacy LZF {kind} column (version 1)"
        )));
    }
    if version != 0x02 {
        return Err(corrupt(format!("unknown {kind} column version {version}")));
    }
    let total = cursor.len_be("column size")?;
    let size_per = cursor.len_be("values per block")?;
    if size_per.saturating_mul(value_bytes) > MAX_BLOCK_BYTES {
        return Err(corrupt(format!(
            "{size_per} {kind} values per block exceed 64 KiB"
        )));
    }
    let compression = Compression::from_id(cursor.u8("compression")?)?;
    parse_blocks(
        src,
        cursor,
        compression,
        total,
        size_per,
        value_bytes as u32 * 8,
    )
}

/// Writes the `0x02 | total | sizePer | compression` header.
pub(crate) fn write_fixed_header(
    out: &mut dyn std::io::Write,
    total: usize,
    size_per: usize,
    compression: Compression,
) -> std::io::Result<()> {
    let mut header = vec![0x02];
    header.extend_from_slice(&(total as i32).to_be_bytes());
    header.extend_from_slice(&(size_per as i32).to_be_bytes());
    header.push(compression.id());
    out.write_all(&header)
}

/// Writes a fixed-width part: the header (sizePer 0 for the entire layout), then the values.
pub(crate) fn write_fixed_part(
    out: &mut dyn std::io::Write,
    total: usize,
    size_per: usize,
    sink: ValueSink,
) -> std::io::Result<()> {
    write_fixed_header(
        out,
        total,
        sink.header_size_per(size_per),
        sink.compression(),
    )?;
    sink.write_to(out)
}

/// Parses a double part (after the column descriptor).
pub fn parse(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    ctx: Ctx,
) -> Result<DoubleColumn, FormatError> {
    let blocks = parse_fixed_header(src, cursor, 8, "double")?;
    Ok(BlockColumn::new(blocks, FixedDecoder::new(order), ctx))
}

/// Streams doubles into compressed blocks.
#[derive(Debug)]
pub struct DoubleColumnWriter {
    blocks: ValueSink,
    total: usize,
}

impl DoubleColumnWriter {
    /// Starts a writer spilling its blocks to `spill`.
    pub fn new(spill: Spill, compression: Compression) -> Self {
        DoubleColumnWriter {
            blocks: ValueSink::new(spill, DOUBLES_PER_BLOCK * 8, compression),
            total: 0,
        }
    }

    /// Appends one value.
    #[inline]
    pub fn push(&mut self, value: f64) -> std::io::Result<()> {
        self.total += 1;
        self.blocks.push(&value.to_le_bytes())
    }

    /// Writes the part to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        write_fixed_part(out, self.total, DOUBLES_PER_BLOCK, self.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_round_trip_and_reject_oversized_blocks() {
        let values: Vec<f64> = (0..9000).map(|i| i as f64 / 3.0).collect();
        let mut writer = DoubleColumnWriter::new(Spill::memory(), Compression::Lz4);
        values.iter().for_each(|v| writer.push(*v).unwrap());
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        let src = Bytes::from(out.clone());
        let column = parse(
            &src,
            &mut Cursor::new(&src),
            ByteOrder::Little,
            Ctx::new("f", "c"),
        )
        .unwrap();
        assert_eq!(column.get(8191).unwrap(), values[8191]);
        assert_eq!(column.get(8192).unwrap(), values[8192]);
        out[5..9].copy_from_slice(&100_000i32.to_be_bytes());
        let src = Bytes::from(out);
        assert!(
            parse(
                &src,
                &mut Cursor::new(&src),
                ByteOrder::Little,
                Ctx::new("f", "c")
            )
            .is_err()
        );
    }
}
