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
use crate::segment::error::SegmentError;
use crate::segment::metadata_drd::Metadata;
use crate::segment::prefetch::AHEAD_ROWS;
use crate::segment::writer::{
    Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
    RowRef, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions, WrittenSegment, recycle,
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
    let sorted = SortedIndex::new(index);
    let schema = SegmentSchema {
        interval,
        dimensions: sorted.dimensions.iter().map(dimension_schema).collect(),
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
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); sorted.dimensions.len()];
    let mut hll_bytes: Vec<Vec<u8>> = vec![Vec::new(); index.metric_defs().len()];
    // The cell vectors borrow this row's buffers; their allocations are handed from row to row.
    let (mut dims_spare, mut metrics_spare): (Vec<DimCell<'static>>, Vec<MetricCell<'static>>) =
        (Vec::new(), Vec::new());
    for (position, &row_id) in sorted.row_order.iter().enumerate() {
        // Rows are read in sorted order, scattered over the index: ask for the next rows' lines
        // ahead (their key cells later, once their key ends are cached).
        if let Some(ahead) = sorted.row_order.get(position + AHEAD_ROWS) {
            index.prefetch_row(*ahead as usize);
        }
        if let Some(near) = sorted.row_order.get(position + AHEAD_ROWS / 2) {
            index.prefetch_cells(*near as usize);
        }
        let row_id = row_id as usize;
        let cells = index.row_cells(row_id);
        for (dim, out) in ids.iter_mut().enumerate() {
            let cell = cells.get(sorted.dimensions[dim].slot).copied().unwrap_or(0);
            sorted.output_ids(dim, cell, out);
        }
        for (metric, buffer) in hll_bytes.iter_mut().enumerate() {
            if let MetricValue::Hll(collector) = index.metric_value(metric, row_id) {
                buffer.clear();
                collector.write_bytes(buffer);
            }
        }
        let mut dims: Vec<DimCell<'_>> = recycle(dims_spare);
        dims.extend(
            sorted
                .dimensions
                .iter()
                .zip(&ids)
                .map(|(d, out)| dim_cell(index, d, out, row_id)),
        );
        let mut metrics: Vec<MetricCell<'_>> = recycle(metrics_spare);
        metrics.extend(
            (0..hll_bytes.len()).map(|m| metric_cell(index.metric_value(m, row_id), &hll_bytes[m])),
        );
        writer.add_row(RowRef {
            time_ms: index.row_time(row_id),
            dims: &dims,
            metrics: &metrics,
        })?;
        (dims_spare, metrics_spare) = (recycle(dims), recycle(metrics));
    }
    writer.finish()
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

fn dim_cell<'a>(
    index: &IncrementalIndex,
    d: &SortedDimension,
    ids: &'a [u32],
    row_id: usize,
) -> DimCell<'a> {
    let DimensionIndexer::Number { values, .. } = index.dimension(d.slot) else {
        return DimCell::Ids(ids);
    };
    let bits = values.get(index.row_cell(row_id, d.slot) - 1);
    match d.kind {
        DimensionType::Long => DimCell::Long(bits as i64),
        DimensionType::Float => DimCell::Float(f32::from_bits(bits as u32)),
        _ => DimCell::Double(f64::from_bits(bits)),
    }
}

fn metric_cell<'a>(value: MetricValue<'_>, hll: &'a [u8]) -> MetricCell<'a> {
    match value {
        MetricValue::Long(n) | MetricValue::TimedLong { value: n, .. } => MetricCell::Long(n),
        MetricValue::Double(x) | MetricValue::TimedDouble { value: x, .. } => MetricCell::Double(x),
        MetricValue::Float(x) | MetricValue::TimedFloat { value: x, .. } => MetricCell::Float(x),
        MetricValue::Hll(_) => MetricCell::Complex(hll),
    }
}
