//! Bitmap indexes built from a string column's ids, for parts written without them (Druid's
//! `NO_BITMAP_INDEX` flag; rtnode's hydrants). The bytes are what the writer would have stored:
//! a `GenericIndexed` of roaring bitmaps, one per dictionary id in id order, the null entry's
//! bitmap also holding the rows without values. Built in memory, once per column of a segment.

use bytes::Bytes;

use super::bitmap_builder::BitmapIndexBuilder;
use super::error::SegmentError;
use super::format::Cursor;
use super::generic_indexed::{GenericIndexed, GenericIndexedWriter};
use super::spill::Spill;
use super::string_column::StringColumn;

/// Builds every bitmap of `column` by one pass over its rows.
pub(crate) fn build(column: &StringColumn) -> Result<GenericIndexed, SegmentError> {
    let io = |e: std::io::Error| SegmentError::InvalidInput(format!("building bitmaps: {e}"));
    let cardinality = column.dictionary().len() as usize;
    let mut builder =
        BitmapIndexBuilder::new(cardinality, column.is_multi_value(), || Ok(Spill::memory()))
            .map_err(io)?;
    if column.is_multi_value() {
        let null_first = cardinality > 0 && column.dictionary().get_bytes(0)?.is_none();
        let mut ids = Vec::new();
        for row in 0..column.len() {
            column.row_ids(row, &mut ids)?;
            for id in &ids {
                builder.push(row, *id).map_err(io)?;
            }
            if ids.is_empty() && null_first {
                builder.push(row, 0).map_err(io)?;
            }
        }
    } else {
        let mut failed = Ok(());
        column.for_each_id_block_in(0..column.len(), |rows, ids| {
            if failed.is_ok() {
                failed = builder.push_consecutive(rows.start, ids);
            }
        })?;
        failed.map_err(io)?;
    }
    let mut bitmaps = GenericIndexedWriter::new(Spill::memory(), false);
    builder
        .finish(&mut |bytes| bitmaps.push(Some(bytes)))
        .map_err(io)?;
    let mut out = Vec::new();
    bitmaps.write_to(&mut out).map_err(io)?;
    let bytes = Bytes::from(out);
    GenericIndexed::parse(&bytes, &mut Cursor::new(&bytes))
        .map_err(|e| SegmentError::InvalidInput(format!("building bitmaps: {e}")))
}
