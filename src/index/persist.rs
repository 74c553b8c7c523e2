//! Persisting an in-memory index as a v9 segment: rows in Druid's order, sorted dictionaries,
//! streamed into the segment writer (to a directory for hydrants, or to memory for the
//! snapshot queries read).

use serde_json::Value;

use super::aggregate::MetricValue;
use super::dimension::DimensionIndexer;
use super::incremental::IncrementalIndex;
use super::sorted::{SortedDimension, SortedIndex};
use crate::config::{DimensionType, MetricType};
use crate::index::granularity::Granularity;
use crate::segment::batch::{DimValues, MetricValues, RowBatch};
use crate::segment::error::SegmentError;
use crate::segment::metadata_drd::Metadata;
use crate::segment::prefetch::AHEAD_ROWS;
use crate::segment::writer::{
    Dictionary, DimensionKind, DimensionSchema, MetricKind, MetricSchema, SegmentOutput,
    SegmentSchema, SegmentWriter, WriteOptions, WrittenSegment,
};
use crate::time::Interval;

/// What a persisted segment records besides its rows (`metadata.drd`).
#[derive(Debug, Clone)]
pub struct PersistMetadata {
    /// The timestampSpec JSON.
    pub timestamp_spec: Value,
    /// Combining aggregator JSON, in spec order.
    pub combining_aggregators: Vec<Value>,
    /// Query granularity.
    pub query_granularity: Granularity,
    /// Rollup flag.
    pub rollup: bool,
}

impl PersistMetadata {
    /// The metadata of a validated fire department's segments.
    pub fn from_spec(department: &crate::config::FireDepartment) -> PersistMetadata {
        let ts = &department.parser().parse_spec().timestamp_spec;
        let granularity = &department.data_schema.granularity_spec;
        PersistMetadata {
            timestamp_spec: serde_json::json!({"column": ts.column, "format": ts.format, "missingValue": ts.missing_value}),
            combining_aggregators: department
                .data_schema
                .metrics_spec
                .iter()
                .map(|m| m.combining_json())
                .collect(),
            query_granularity: granularity.query_granularity.clone(),
            rollup: granularity.rollup,
        }
    }

    fn to_metadata(&self) -> Metadata {
        Metadata {
            container: Default::default(),
            aggregators: Some(self.combining_aggregators.clone()),
            timestamp_spec: Some(self.timestamp_spec.clone()),
            query_granularity: Some(self.query_granularity.clone()),
            rollup: Some(self.rollup),
        }
    }
}

/// Writes `index` as a segment of `interval`.
pub fn write_index(
    index: &IncrementalIndex,
    interval: Interval,
    metadata: Option<&PersistMetadata>,
    output: SegmentOutput,
    options: WriteOptions,
) -> Result<WrittenSegment, SegmentError> {
    write_index_with(index, interval, metadata, output, options, &[])
}

/// [`write_index`] with the string dimensions named in `without_bitmap_index` written without
/// bitmap indexes (the spec's `createBitmapIndex: false`), as a merge writes them: the segment
/// a sink's only hydrant becomes as it is.
pub fn write_index_with(
    index: &IncrementalIndex,
    interval: Interval,
    metadata: Option<&PersistMetadata>,
    output: SegmentOutput,
    options: WriteOptions,
    without_bitmap_index: &[String],
) -> Result<WrittenSegment, SegmentError> {
    let sorted = SortedIndex::new(index);
    let dimensions = sorted
        .dimensions
        .iter()
        .map(|d| DimensionSchema {
            bitmap_index: !without_bitmap_index.contains(&d.name),
            ..dimension_schema(d)
        })
        .collect();
    let schema = SegmentSchema {
        interval,
        dimensions,
        metrics: index
            .metric_defs()
            .iter()
            .map(|m| MetricSchema {
                name: m.name.clone(),
                kind: metric_kind(m.kind.metric_type()),
            })
            .collect(),
        metadata: metadata.map(PersistMetadata::to_metadata),
    };
    let dictionaries = sorted
        .dimensions
        .iter()
        .map(|d| output_dictionary(index, d))
        .collect();
    let mut writer = SegmentWriter::new(schema, dictionaries, output, options)?;
    let mut batch = writer.new_batch();
    let mut cells: Vec<Vec<u32>> = vec![Vec::new(); sorted.dimensions.len()];
    for (number, rows) in sorted.row_order.chunks(BATCH_ROWS).enumerate() {
        gather_cells(&sorted, number * BATCH_ROWS, rows, &mut batch, &mut cells);
        for (dim, values) in batch.dims.iter_mut().enumerate() {
            fill_dimension(&sorted, dim, &cells[dim], values);
        }
        for (metric, values) in batch.metrics.iter_mut().enumerate() {
            fill_metric(index, metric, rows, values)?;
        }
        writer.add_batch(&batch)?;
        batch.clear();
    }
    writer.finish()
}

/// Rows per batch: enough for a column's gather to keep many cache misses in flight, few
/// enough that the batch's columns stay in L2 (~14 columns × 2048 rows × ≤ 8 bytes).
const BATCH_ROWS: usize = 2048;

/// Appends the times of `rows` (starting at `position` of the sorted order) to the batch and
/// their dimension cells to `cells`, one vector per sorted dimension.
fn gather_cells(
    sorted: &SortedIndex<'_>,
    position: usize,
    rows: &[u32],
    batch: &mut RowBatch,
    cells: &mut [Vec<u32>],
) {
    let index = sorted.index;
    cells.iter_mut().for_each(Vec::clear);
    for (offset, &row_id) in rows.iter().enumerate() {
        // Rows are read in sorted order, scattered over the index: ask for the next rows' lines
        // ahead (their key cells later, once their key ends are cached).
        if let Some(ahead) = sorted.row_order.get(position + offset + AHEAD_ROWS) {
            index.prefetch_row(*ahead as usize);
        }
        if let Some(near) = sorted.row_order.get(position + offset + AHEAD_ROWS / 2) {
            index.prefetch_cells(*near as usize);
        }
        let row_id = row_id as usize;
        batch.times_ms.push(index.row_time(row_id));
        let row_cells = index.row_cells(row_id);
        for (dim, out) in cells.iter_mut().enumerate() {
            out.push(
                row_cells
                    .get(sorted.dimensions[dim].slot)
                    .copied()
                    .unwrap_or(0),
            );
        }
    }
}

/// Turns one dimension's cells into its output values.
fn fill_dimension(sorted: &SortedIndex<'_>, dim: usize, cells: &[u32], values: &mut DimValues) {
    let d = &sorted.dimensions[dim];
    match (values, sorted.index.dimension(d.slot)) {
        (DimValues::Ids { ids, ends_opt }, _) => {
            sorted.output_column(dim, cells, ids, ends_opt.as_mut());
        }
        (numbers, DimensionIndexer::Number { values, .. }) => {
            let bits = cells.iter().map(|cell| values.get(cell - 1));
            match numbers {
                DimValues::Long(out) => out.extend(bits.map(|b| b as i64)),
                DimValues::Float(out) => out.extend(bits.map(|b| f32::from_bits(b as u32))),
                DimValues::Double(out) => out.extend(bits.map(f64::from_bits)),
                DimValues::Ids { .. } => unreachable!("matched above"),
            }
        }
        // A string indexer under a numeric schema cannot happen (the schema is built from the
        // indexers); leaving the column short makes the writer refuse the batch.
        (_, DimensionIndexer::String { .. }) => {}
    }
}

/// Appends metric `metric` of `rows` to its batch column.
fn fill_metric(
    index: &IncrementalIndex,
    metric: usize,
    rows: &[u32],
    values: &mut MetricValues,
) -> Result<(), SegmentError> {
    for &row_id in rows {
        match (index.metric_value(metric, row_id as usize), &mut *values) {
            (
                MetricValue::Long(n) | MetricValue::TimedLong { value: n, .. },
                MetricValues::Long(out),
            ) => out.push(n),
            (
                MetricValue::Double(x) | MetricValue::TimedDouble { value: x, .. },
                MetricValues::Double(out),
            ) => out.push(x),
            (
                MetricValue::Float(x) | MetricValue::TimedFloat { value: x, .. },
                MetricValues::Float(out),
            ) => out.push(x),
            (MetricValue::Hll(collector), MetricValues::Complex { bytes, ends }) => {
                collector.write_bytes(bytes);
                ends.push(bytes.len() as u32);
            }
            (value, _) => {
                return Err(SegmentError::InvalidInput(format!(
                    "metric {metric}: {value:?} does not fit its column"
                )));
            }
        }
    }
    Ok(())
}

fn dimension_schema(d: &SortedDimension) -> DimensionSchema {
    let kind = match d.kind {
        DimensionType::Long => DimensionKind::Long,
        DimensionType::Float => DimensionKind::Float,
        DimensionType::Double => DimensionKind::Double,
        DimensionType::String | DimensionType::Spatial => DimensionKind::String,
    };
    DimensionSchema {
        name: d.name.clone(),
        kind,
        has_multiple_values: d.multi_value,
        bitmap_index: true,
    }
}

fn metric_kind(kind: MetricType) -> MetricKind {
    match kind {
        MetricType::Long => MetricKind::Long,
        MetricType::Float => MetricKind::Float,
        MetricType::Double => MetricKind::Double,
        MetricType::HyperUnique => MetricKind::Complex {
            type_name: "hyperUnique".to_string(),
        },
    }
}

fn output_dictionary(index: &IncrementalIndex, d: &SortedDimension) -> Option<Dictionary> {
    let DimensionIndexer::String { values, .. } = index.dimension(d.slot) else {
        return None;
    };
    let mut entries = Vec::with_capacity(d.sorted_ids.len() + 1);
    if d.has_null {
        entries.push(None);
    }
    entries.extend(
        d.sorted_ids
            .iter()
            .map(|id| Some(values.get(*id).to_string())),
    );
    Some(Dictionary(entries))
}
