//! [`SegmentWriter::add_batch`]: the column-at-a-time form of `add_row`. Each column of a
//! [`RowBatch`] is checked once (kinds, lengths, the largest id against the dictionary) and
//! handed to its column writer whole; the bytes written are those of adding the same rows one
//! at a time (`tests/segment_roundtrip.rs` compares both for every layout).

use std::io;

use super::batch::{DimValues, MetricValues, RowBatch, rows_of};
use super::column_writers::ColumnWriter;
use super::error::SegmentError;
use super::writer::{SegmentWriter, io_err};

impl SegmentWriter {
    /// An empty batch shaped for this writer's schema.
    pub fn new_batch(&self) -> RowBatch {
        RowBatch::for_schema(&self.schema)
    }

    /// Appends the rows of `batch` (Druid row order, none before the previous row). Writes the
    /// same bytes as [`SegmentWriter::add_row`] with each row; an invalid batch is refused
    /// before any of it is written.
    pub fn add_batch(&mut self, batch: &RowBatch) -> Result<(), SegmentError> {
        self.check_batch(batch)?;
        self.push_batch(batch)
            .map_err(|e| io_err(&self.tmp_dir_opt, e))
    }

    fn check_batch(&self, batch: &RowBatch) -> Result<(), SegmentError> {
        let invalid = |m: String| SegmentError::InvalidInput(m);
        if batch.dims.len() != self.dims.len() || batch.metrics.len() != self.metrics.len() {
            return Err(invalid(format!(
                "batch has {} dimensions and {} metrics, schema has {} and {}",
                batch.dims.len(),
                batch.metrics.len(),
                self.dims.len(),
                self.metrics.len()
            )));
        }
        batch.check_shape().map_err(invalid)?;
        let first_ms = batch.times_ms.first().copied().unwrap_or(i64::MAX);
        if first_ms < self.last_time_ms || batch.times_ms.windows(2).any(|w| w[1] < w[0]) {
            return Err(invalid(format!(
                "batch times go back (previous row at {})",
                self.last_time_ms
            )));
        }
        if u64::from(self.num_rows) + batch.len() as u64 > i32::MAX as u64 {
            return Err(invalid("segment row limit reached".into()));
        }
        for (index, (writer_opt, values)) in self.dims.iter().zip(&batch.dims).enumerate() {
            match writer_opt {
                Some(writer) => writer
                    .check_dim_batch(values)
                    .map_err(|m| self.invalid_dim(index, m))?,
                None if matches!(values, DimValues::Ids { .. }) => {}
                None => return Err(self.invalid_dim(index, "expects dictionary ids".into())),
            }
        }
        for (index, (writer, values)) in self.metrics.iter().zip(&batch.metrics).enumerate() {
            writer.check_metric_batch(values).map_err(|m| {
                invalid(format!("metric `{}`: {m}", self.schema.metrics[index].name))
            })?;
        }
        Ok(())
    }

    fn push_batch(&mut self, batch: &RowBatch) -> io::Result<()> {
        self.time.push_longs(&batch.times_ms)?;
        for (writer_opt, values) in self.dims.iter_mut().zip(&batch.dims) {
            if let Some(writer) = writer_opt {
                writer.push_dim_batch(values)?;
            }
        }
        for (writer, values) in self.metrics.iter_mut().zip(&batch.metrics) {
            writer.push_metric_batch(values)?;
        }
        if let Some(last_ms) = batch.times_ms.last() {
            self.last_time_ms = *last_ms;
        }
        self.num_rows += batch.len() as u32;
        Ok(())
    }
}

impl ColumnWriter {
    /// Checks that a checked-shape batch column fits this dimension column.
    pub(crate) fn check_dim_batch(&self, values: &DimValues) -> Result<(), String> {
        match (self, values) {
            (ColumnWriter::String(writer), DimValues::Ids { ids, ends_opt }) => {
                writer.check_ids(ids, ends_opt.is_some())
            }
            (ColumnWriter::Long(_), DimValues::Long(_))
            | (ColumnWriter::Float(_), DimValues::Float(_))
            | (ColumnWriter::Double(_), DimValues::Double(_)) => Ok(()),
            _ => Err("batch column does not match the column kind".into()),
        }
    }

    /// Appends a checked batch column of a dimension.
    pub(crate) fn push_dim_batch(&mut self, values: &DimValues) -> io::Result<()> {
        match (self, values) {
            (ColumnWriter::String(writer), DimValues::Ids { ids, ends_opt }) => match ends_opt {
                None => writer.push_single_ids(ids),
                Some(ends) => rows_of(ids, ends).try_for_each(|row| writer.push_row(row)),
            },
            (ColumnWriter::Long(writer), DimValues::Long(v)) => writer.push_all(v),
            (ColumnWriter::Float(writer), DimValues::Float(v)) => {
                v.iter().try_for_each(|x| writer.push(*x))
            }
            (ColumnWriter::Double(writer), DimValues::Double(v)) => {
                v.iter().try_for_each(|x| writer.push(*x))
            }
            _ => Err(io::Error::other("batch column does not match its column")),
        }
    }

    /// Checks that a batch column fits this metric column.
    pub(crate) fn check_metric_batch(&self, values: &MetricValues) -> Result<(), String> {
        match (self, values) {
            (ColumnWriter::Long(_), MetricValues::Long(_))
            | (ColumnWriter::Float(_), MetricValues::Float(_))
            | (ColumnWriter::Double(_), MetricValues::Double(_))
            | (ColumnWriter::Complex(..), MetricValues::Complex { .. }) => Ok(()),
            _ => Err("batch column does not match the column kind".into()),
        }
    }

    /// Appends a checked batch column of a metric.
    pub(crate) fn push_metric_batch(&mut self, values: &MetricValues) -> io::Result<()> {
        match (self, values) {
            (ColumnWriter::Long(writer), MetricValues::Long(v)) => writer.push_all(v),
            (ColumnWriter::Float(writer), MetricValues::Float(v)) => {
                v.iter().try_for_each(|x| writer.push(*x))
            }
            (ColumnWriter::Double(writer), MetricValues::Double(v)) => {
                v.iter().try_for_each(|x| writer.push(*x))
            }
            (ColumnWriter::Complex(writer, _), MetricValues::Complex { bytes, ends }) => {
                rows_of(bytes, ends).try_for_each(|value| writer.push(value))
            }
            _ => Err(io::Error::other("batch column does not match its column")),
        }
    }

    /// Appends longs (used for `__time`).
    pub(crate) fn push_longs(&mut self, values: &[i64]) -> io::Result<()> {
        match self {
            ColumnWriter::Long(writer) => writer.push_all(values),
            _ => Err(io::Error::other("not a long column")),
        }
    }
}
