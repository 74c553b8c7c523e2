//! `RowBatch`: rows in Druid row order held column by column, what
//! [`SegmentWriter::add_batch`](super::writer::SegmentWriter::add_batch) writes.
//!
//! A persist fills a batch one column at a time (each column a tight gather over the batch's
//! rows, whose cache misses overlap instead of queueing behind a row's worth of work), a merge
//! one row at a time ([`RowBatch::push_row`]: appends to plain vectors). Either way the writer
//! then hands every column writer its whole slice at once, checking the batch once per column
//! instead of every cell.
//!
//! ```text
//! times_ms : one i64 per row
//! dims     : per schema dimension, Ids { ids, ends_opt } (single-value: one id per row;
//!            multi-value: ends_opt[r] = end of row r's ids in `ids`) | Long | Float | Double
//! metrics  : per schema metric, Long | Float | Double | Complex { bytes, ends } (row r's
//!            bytes end at ends[r]; an empty value is null)
//! ```

use super::error::SegmentError;
use super::schema::{DimCell, DimensionKind, MetricCell, MetricKind, RowRef, SegmentSchema};

/// One dimension's values in a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum DimValues {
    /// Dictionary ids: one per row, or (multi-value, `ends_opt` present) a list per row.
    Ids {
        /// The ids, row after row.
        ids: Vec<u32>,
        /// Multi-value columns: the end of each row's ids in `ids`.
        ends_opt: Option<Vec<u32>>,
    },
    /// Long values.
    Long(Vec<i64>),
    /// Float values.
    Float(Vec<f32>),
    /// Double values.
    Double(Vec<f64>),
}

/// One metric's values in a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValues {
    /// Longs.
    Long(Vec<i64>),
    /// Floats.
    Float(Vec<f32>),
    /// Doubles.
    Double(Vec<f64>),
    /// Complex values, concatenated (empty = null).
    Complex {
        /// The values' bytes, row after row.
        bytes: Vec<u8>,
        /// The end of each row's bytes in `bytes`.
        ends: Vec<u32>,
    },
}

/// Rows held column by column (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct RowBatch {
    /// One time per row.
    pub times_ms: Vec<i64>,
    /// One entry per schema dimension.
    pub dims: Vec<DimValues>,
    /// One entry per schema metric.
    pub metrics: Vec<MetricValues>,
}

impl RowBatch {
    /// An empty batch shaped for `schema`.
    pub fn for_schema(schema: &SegmentSchema) -> RowBatch {
        let dims = schema
            .dimensions
            .iter()
            .map(|d| match d.kind {
                DimensionKind::String => DimValues::Ids {
                    ids: Vec::new(),
                    ends_opt: d.has_multiple_values.then(Vec::new),
                },
                DimensionKind::Long => DimValues::Long(Vec::new()),
                DimensionKind::Float => DimValues::Float(Vec::new()),
                DimensionKind::Double => DimValues::Double(Vec::new()),
            })
            .collect();
        let metrics = schema
            .metrics
            .iter()
            .map(|m| match m.kind {
                MetricKind::Long => MetricValues::Long(Vec::new()),
                MetricKind::Float => MetricValues::Float(Vec::new()),
                MetricKind::Double => MetricValues::Double(Vec::new()),
                MetricKind::Complex { .. } => MetricValues::Complex {
                    bytes: Vec::new(),
                    ends: Vec::new(),
                },
            })
            .collect();
        RowBatch {
            times_ms: Vec::new(),
            dims,
            metrics,
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.times_ms.len()
    }

    /// True when the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.times_ms.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.times_ms.clear();
        for dim in &mut self.dims {
            match dim {
                DimValues::Ids { ids, ends_opt } => {
                    ids.clear();
                    ends_opt.iter_mut().for_each(Vec::clear);
                }
                DimValues::Long(v) => v.clear(),
                DimValues::Float(v) => v.clear(),
                DimValues::Double(v) => v.clear(),
            }
        }
        for metric in &mut self.metrics {
            match metric {
                MetricValues::Long(v) => v.clear(),
                MetricValues::Float(v) => v.clear(),
                MetricValues::Double(v) => v.clear(),
                MetricValues::Complex { bytes, ends } => {
                    bytes.clear();
                    ends.clear();
                }
            }
        }
    }

    /// Appends one row; its cells must match the batch's shape (a cell of another kind, or
    /// several ids for a single-value dimension, is an error and leaves the batch unchanged).
    pub fn push_row(&mut self, row: RowRef<'_>) -> Result<(), SegmentError> {
        if row.dims.len() != self.dims.len() || row.metrics.len() != self.metrics.len() {
            return Err(SegmentError::InvalidInput(format!(
                "row has {} dimensions and {} metrics, batch has {} and {}",
                row.dims.len(),
                row.metrics.len(),
                self.dims.len(),
                self.metrics.len()
            )));
        }
        let rows_before = self.len();
        match self.append(row) {
            Ok(()) => Ok(()),
            Err(message) => {
                self.truncate(rows_before);
                Err(SegmentError::InvalidInput(message))
            }
        }
    }

    /// Appends the row's cells column by column, stopping at the first that does not fit.
    fn append(&mut self, row: RowRef<'_>) -> Result<(), String> {
        self.times_ms.push(row.time_ms);
        for (index, (dim, cell)) in self.dims.iter_mut().zip(row.dims).enumerate() {
            match (dim, cell) {
                (
                    DimValues::Ids {
                        ids,
                        ends_opt: None,
                    },
                    DimCell::Ids(cell_ids),
                ) if cell_ids.len() == 1 => {
                    ids.push(cell_ids[0]);
                }
                (
                    DimValues::Ids {
                        ids,
                        ends_opt: Some(ends),
                    },
                    DimCell::Ids(cell_ids),
                ) => {
                    ids.extend_from_slice(cell_ids);
                    ends.push(ids.len() as u32);
                }
                (DimValues::Long(v), DimCell::Long(x)) => v.push(*x),
                (DimValues::Float(v), DimCell::Float(x)) => v.push(*x),
                (DimValues::Double(v), DimCell::Double(x)) => v.push(*x),
                _ => return Err(format!("dimension {index}: cell {cell:?} does not fit")),
            }
        }
        for (index, (metric, cell)) in self.metrics.iter_mut().zip(row.metrics).enumerate() {
            match (metric, cell) {
                (MetricValues::Long(v), MetricCell::Long(x)) => v.push(*x),
                (MetricValues::Float(v), MetricCell::Float(x)) => v.push(*x),
                (MetricValues::Double(v), MetricCell::Double(x)) => v.push(*x),
                (MetricValues::Complex { bytes, ends }, MetricCell::Complex(value)) => {
                    bytes.extend_from_slice(value);
                    ends.push(bytes.len() as u32);
                }
                _ => return Err(format!("metric {index}: cell {cell:?} does not fit")),
            }
        }
        Ok(())
    }

    /// Drops every row from `rows` on (and any part of a row appended after them).
    fn truncate(&mut self, rows: usize) {
        self.times_ms.truncate(rows);
        let list_end = |ends: &[u32]| ends.last().map_or(0, |end| *end as usize);
        for dim in &mut self.dims {
            match dim {
                DimValues::Ids {
                    ids,
                    ends_opt: None,
                } => ids.truncate(rows),
                DimValues::Ids {
                    ids,
                    ends_opt: Some(ends),
                } => {
                    ends.truncate(rows);
                    ids.truncate(list_end(ends));
                }
                DimValues::Long(v) => v.truncate(rows),
                DimValues::Float(v) => v.truncate(rows),
                DimValues::Double(v) => v.truncate(rows),
            }
        }
        for metric in &mut self.metrics {
            match metric {
                MetricValues::Long(v) => v.truncate(rows),
                MetricValues::Float(v) => v.truncate(rows),
                MetricValues::Double(v) => v.truncate(rows),
                MetricValues::Complex { bytes, ends } => {
                    ends.truncate(rows);
                    bytes.truncate(list_end(ends));
                }
            }
        }
    }

    /// Checks that every column holds `len()` rows and that the list ends are consistent.
    pub(crate) fn check_shape(&self) -> Result<(), String> {
        let rows = self.len();
        for (index, dim) in self.dims.iter().enumerate() {
            let column_rows = match dim {
                DimValues::Ids {
                    ids,
                    ends_opt: None,
                } => ids.len(),
                DimValues::Ids {
                    ids,
                    ends_opt: Some(ends),
                } => {
                    check_ends(ends, ids.len()).map_err(|m| format!("dimension {index}: {m}"))?;
                    ends.len()
                }
                DimValues::Long(v) => v.len(),
                DimValues::Float(v) => v.len(),
                DimValues::Double(v) => v.len(),
            };
            if column_rows != rows {
                return Err(format!(
                    "dimension {index} holds {column_rows} rows, the batch {rows}"
                ));
            }
        }
        for (index, metric) in self.metrics.iter().enumerate() {
            let column_rows = match metric {
                MetricValues::Long(v) => v.len(),
                MetricValues::Float(v) => v.len(),
                MetricValues::Double(v) => v.len(),
                MetricValues::Complex { bytes, ends } => {
                    check_ends(ends, bytes.len()).map_err(|m| format!("metric {index}: {m}"))?;
                    ends.len()
                }
            };
            if column_rows != rows {
                return Err(format!(
                    "metric {index} holds {column_rows} rows, the batch {rows}"
                ));
            }
        }
        Ok(())
    }
}

/// Row ends must not decrease and the last must be the values' length.
fn check_ends(ends: &[u32], values: usize) -> Result<(), String> {
    if ends.windows(2).any(|w| w[1] < w[0]) {
        return Err("row ends decrease".into());
    }
    match ends.last() {
        Some(last) if *last as usize != values => Err(format!(
            "last row ends at {last}, the values are {values} long"
        )),
        None if values != 0 => Err(format!("no rows but {values} values")),
        _ => Ok(()),
    }
}

/// Iterates the rows of a list column: row `r` is `values[ends[r-1]..ends[r]]`.
pub(crate) fn rows_of<'a, T>(values: &'a [T], ends: &'a [u32]) -> impl Iterator<Item = &'a [T]> {
    let mut start = 0usize;
    ends.iter().map(move |end| {
        let row = &values[start..*end as usize];
        start = *end as usize;
        row
    })
}
