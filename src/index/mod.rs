//! The in-memory rollup index (Druid's `IncrementalIndex`): dimension dictionaries, row keys,
//! aggregators, granularities.
//!
//! An event becomes a row key — its time truncated to `queryGranularity` (never before the sink
//! start) plus one `u32` cell per dimension — and is folded into the row with that key
//! (`rollup: true`) or appended (`rollup: false`). [`sorted::SortedIndex`] puts the rows in
//! Druid's order with sorted dictionaries for persisting.

pub mod aggregate;
pub mod dictionary;
pub mod dimension;
pub mod event_filter;
pub mod granularity;
pub mod incremental;
pub mod persist;
mod prefix_sort;
mod probe_table;
pub mod row_sort;
pub mod sorted;
mod str_table;
pub mod truncate;
pub mod value_order;

use base64::Engine as _;
use serde_json::{Map, Value};

pub use aggregate::{MetricDef, MetricValue};
pub use incremental::{Added, IncrementalIndex, IndexSettings, RowError};
pub use sorted::SortedIndex;

use crate::config::FireDepartment;
use crate::parse::RowSchema;
use dimension::{DimensionIndexer, cell_values};
use event_filter::EventFilter;

impl IndexSettings {
    /// Settings of a validated fire department whose rows are laid out by `schema`.
    pub fn from_spec(department: &FireDepartment, schema: &RowSchema) -> IndexSettings {
        let granularity = &department.data_schema.granularity_spec;
        let metrics = department
            .data_schema
            .metrics_spec
            .iter()
            .map(|m| MetricDef {
                name: m.name.clone(),
                kind: m.kind,
                field_slot: m.field_name.as_deref().and_then(|f| schema.field_slot(f)),
                is_input_hyper_unique: m.is_input_hyper_unique,
                filter: m.filter.as_ref().map(|f| EventFilter::new(f, schema)),
            })
            .collect();
        IndexSettings {
            query_granularity: granularity.query_granularity.clone(),
            rollup: granularity.rollup,
            metrics,
        }
    }
}

/// Rows as JSON objects in persist order, in the shape `rtnode dump-segment` prints: `__time` in
/// epoch millis, strings (null when absent), arrays for every row of a multi-value dimension
/// (`[null]` when the row has no value), numbers, and
/// hyperUnique as base64 of the collector bytes. Dimensions no row has are left out.
pub fn rows_as_json(sorted: &SortedIndex<'_>) -> Vec<Map<String, Value>> {
    let index = sorted.index;
    sorted
        .row_order
        .iter()
        .map(|&row_id| {
            let row_id = row_id as usize;
            let mut object = Map::new();
            object.insert("__time".into(), index.row_time(row_id).into());
            for dim in &sorted.dimensions {
                object.insert(
                    dim.name.clone(),
                    dimension_json(index, dim.slot, row_id, dim.multi_value),
                );
            }
            for (i, def) in index.metric_defs().iter().enumerate() {
                object.insert(def.name.clone(), metric_json(index.metric_value(i, row_id)));
            }
            object
        })
        .collect()
}

fn dimension_json(
    index: &IncrementalIndex,
    slot: usize,
    row_id: usize,
    multi_value_column: bool,
) -> Value {
    let cell = index.row_cell(row_id, slot);
    match index.dimension(slot) {
        DimensionIndexer::String { values, lists, .. } => {
            let text = |v: &u32| {
                if *v == 0 {
                    Value::Null
                } else {
                    Value::String(values.get(*v - 1).to_string())
                }
            };
            let cells = cell_values(&cell, Some(lists));
            if multi_value_column {
                Value::Array(cells.iter().map(text).collect())
            } else {
                text(&cells[0])
            }
        }
        DimensionIndexer::Number { kind, values } => {
            let bits = values.get(cell - 1);
            match kind {
                crate::config::DimensionType::Long => Value::from(bits as i64),
                crate::config::DimensionType::Float => {
                    Value::from(f32::from_bits(bits as u32) as f64)
                }
                _ => Value::from(f64::from_bits(bits)),
            }
        }
    }
}

/// The JSON of one aggregated value.
pub fn metric_json(value: MetricValue<'_>) -> Value {
    match value {
        MetricValue::Long(n) | MetricValue::TimedLong { value: n, .. } => n.into(),
        MetricValue::Double(x) | MetricValue::TimedDouble { value: x, .. } => x.into(),
        MetricValue::Float(x) | MetricValue::TimedFloat { value: x, .. } => (x as f64).into(),
        MetricValue::Hll(collector) => base64::engine::general_purpose::STANDARD
            .encode(collector.to_bytes())
            .into(),
    }
}
