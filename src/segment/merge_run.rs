//! Run copies: the rows of one input whose time is earlier than every other input's current row
//! come next in the merged order as they are (no other input can hold an equal key, and an
//! input's own keys are distinct when it was rolled up), so they are copied column by column
//! instead of being compared and combined row by row.
//!
//! The hydrants of a sink cover consecutive stretches of time, so nearly every row of a sink's
//! merge is copied this way; only the instants where hydrants overlap (the minute a persist
//! fell in) take the row-by-row path of [`super::merge`].

use std::ops::Range;

use super::batch::{DimValues, MetricValues, RowBatch};
use super::error::SegmentError;
use super::merge_input::{DimSource, InputCursor, KeyCell, MetricSource};
use super::reader::{Column, Segment};
use super::writer::SegmentWriter;

/// Rows per copied chunk: one block of longs (chunks end on block boundaries, so each long
/// block is decoded once).
const CHUNK_ROWS: u32 = 8192;

/// Whether input `segment`'s rows may be copied in runs: they follow the merged order, and with
/// `rollup` its own keys are known to be distinct (it was rolled up when written).
pub(super) fn runs_allowed(segment: &Segment, conforming: bool, rollup: bool) -> bool {
    conforming && (!rollup || segment.metadata().and_then(|m| m.rollup) == Some(true))
}

impl InputCursor {
    /// Copies this input's rows, from the current one while their time is before `until_ms`,
    /// into `writer` in chunks (through `batch`), and moves to the first row not copied.
    /// Returns the number of rows copied.
    pub(super) fn copy_run(
        &mut self,
        until_ms: i64,
        batch: &mut RowBatch,
        writer: &mut SegmentWriter,
    ) -> Result<u32, SegmentError> {
        let start = self.position;
        while !self.is_done() && self.time_ms < until_ms {
            let chunk_end = ((self.position / CHUNK_ROWS + 1) * CHUNK_ROWS).min(self.num_rows);
            batch.clear();
            let times = &mut batch.times_ms;
            self.time
                .for_each_block_in(self.position..chunk_end, |_, values| {
                    times.extend(values.iter().take_while(|t| **t < until_ms));
                })?;
            let rows = self.position..self.position + batch.times_ms.len() as u32;
            self.copy_dimensions(rows.clone(), batch)?;
            self.copy_metrics(rows.clone(), batch)?;
            writer.add_batch(batch)?;
            self.position = rows.end;
            self.load()?;
        }
        batch.clear();
        Ok(self.position - start)
    }

    fn copy_dimensions(
        &mut self,
        rows: Range<u32>,
        batch: &mut RowBatch,
    ) -> Result<(), SegmentError> {
        let count = rows.len();
        for (source, values) in self.dims.iter().zip(batch.dims.iter_mut()) {
            match (source, values) {
                (
                    DimSource::String(column, remap),
                    DimValues::Ids {
                        ids,
                        ends_opt: None,
                    },
                ) if !column.is_multi_value() => {
                    column.for_each_id_block_in(rows.clone(), |_, block| {
                        ids.extend(block.iter().map(|id| remap[*id as usize]));
                    })?;
                }
                (DimSource::String(column, remap), DimValues::Ids { ids, ends_opt }) => {
                    for row in rows.clone() {
                        column.row_ids(row, &mut self.scratch)?;
                        ids.extend(self.scratch.iter().map(|id| remap[*id as usize]));
                        if let Some(ends) = ends_opt.as_mut() {
                            ends.push(ids.len() as u32);
                        }
                    }
                }
                (DimSource::Long(column), DimValues::Long(out)) => {
                    column.extend_range(rows.clone(), out)?
                }
                (DimSource::Float(column), DimValues::Float(out)) => {
                    column.extend_range(rows.clone(), out)?
                }
                (DimSource::Double(column), DimValues::Double(out)) => {
                    column.extend_range(rows.clone(), out)?
                }
                (DimSource::Missing(cell), values) => repeat_cell(cell, count, values)?,
                _ => return Err(mismatch("dimension")),
            }
        }
        Ok(())
    }

    fn copy_metrics(&self, rows: Range<u32>, batch: &mut RowBatch) -> Result<(), SegmentError> {
        for (source, values) in self.metrics.iter().zip(batch.metrics.iter_mut()) {
            let MetricSource::Column(column) = source else {
                // A missing metric is zero, or a null collector (as `merge::load_metric`).
                repeat_empty_metric(rows.len(), values);
                continue;
            };
            match (&**column, values) {
                (Column::Long(c), MetricValues::Long(out)) => c.extend_range(rows.clone(), out)?,
                (Column::Float(c), MetricValues::Float(out)) => {
                    c.extend_range(rows.clone(), out)?
                }
                (Column::Double(c), MetricValues::Double(out)) => {
                    c.extend_range(rows.clone(), out)?
                }
                (Column::Complex(c), MetricValues::Complex { bytes, ends }) => {
                    for row in rows.clone() {
                        bytes.extend_from_slice(c.get(row)?);
                        ends.push(bytes.len() as u32);
                    }
                }
                _ => return Err(mismatch("metric")),
            }
        }
        Ok(())
    }
}

/// Appends `count` copies of a missing dimension's cell.
fn repeat_cell(cell: &KeyCell, count: usize, values: &mut DimValues) -> Result<(), SegmentError> {
    match (cell, values) {
        (KeyCell::Ids(cell_ids), DimValues::Ids { ids, ends_opt }) => {
            for _ in 0..count {
                ids.extend_from_slice(cell_ids);
                if let Some(ends) = ends_opt.as_mut() {
                    ends.push(ids.len() as u32);
                }
            }
        }
        (KeyCell::Long(v), DimValues::Long(out)) => out.extend(std::iter::repeat_n(*v, count)),
        (KeyCell::Float(v), DimValues::Float(out)) => out.extend(std::iter::repeat_n(*v, count)),
        (KeyCell::Double(v), DimValues::Double(out)) => out.extend(std::iter::repeat_n(*v, count)),
        _ => return Err(mismatch("dimension")),
    }
    Ok(())
}

/// Appends `count` zeros (or null collectors).
fn repeat_empty_metric(count: usize, values: &mut MetricValues) {
    match values {
        MetricValues::Long(out) => out.extend(std::iter::repeat_n(0, count)),
        MetricValues::Float(out) => out.extend(std::iter::repeat_n(0.0, count)),
        MetricValues::Double(out) => out.extend(std::iter::repeat_n(0.0, count)),
        MetricValues::Complex { bytes, ends } => {
            ends.extend(std::iter::repeat_n(bytes.len() as u32, count));
        }
    }
}

fn mismatch(what: &str) -> SegmentError {
    SegmentError::InvalidInput(format!(
        "a {what} of an input does not match the merged column"
    ))
}
