//! `merge_segments`: a streaming k-way merge of segments in Druid's row order, with rollup.
//!
//! ```text
//! dimensions : the union of the inputs' orders, each input's order kept (Druid's common
//!              case: hydrants share the spec order, all-null dimensions omitted), ties by
//!              the caller's hint; an input that disagrees has its rows re-sorted
//!              (`merge_order`)
//! dictionaries: per string dimension, a k-way merge of the inputs' sorted dictionaries
//!              (+ null when some input lacks the dimension); old id -> merged id tables
//! rows       : inputs are walked with one cursor each; the smallest row key (time, then
//!              dimension id arrays: length first, then element-wise, null first) goes next,
//!              ties in input order; with rollup, equal adjacent keys are combined; the
//!              rows of one input earlier than every other input's current row are copied
//!              column by column as a run instead (`merge_run`)
//! metadata   : Metadata::merge of the inputs' metadata.drd
//! ```
//! First/last metrics: Druid 0.12's `longFirst`/`doubleLast`/… factories report the primitive
//! type (`"long"`, `"double"`, `"float"`), so their segment columns are plain numeric columns
//! holding the value only, without its timestamp. Rows are only rolled up when their (truncated)
//! times are equal, so `*First` keeps the value of the earliest input and `*Last` the latest.

use std::collections::HashMap;

use super::batch::RowBatch;
use super::error::SegmentError;
use super::merge_input::{
    DimSource, InputCursor, KeyCell, MetricSource, compare_keys, merge_dictionaries,
};
use super::merge_order::{DimensionOrder, merged_dimension_order};
use super::merge_run::runs_allowed;
use super::metadata_drd::Metadata;
use super::reader::{Column, Segment};
use super::writer::{
    Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
    RowRef, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions, WrittenSegment, recycle,
};
use crate::time::Interval;

/// How rolled-up rows combine a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricCombiner {
    /// Sum of longs (wrapping).
    LongSum,
    /// Minimum of longs.
    LongMin,
    /// Maximum of longs.
    LongMax,
    /// Sum of doubles.
    DoubleSum,
    /// Minimum of doubles.
    DoubleMin,
    /// Maximum of doubles.
    DoubleMax,
    /// Sum of floats.
    FloatSum,
    /// Minimum of floats.
    FloatMin,
    /// Maximum of floats.
    FloatMax,
    /// Fold of Druid HLL collectors (`hyperUnique`).
    HyperUnique,
    /// First long (earliest input).
    LongFirst,
    /// Last long (latest input).
    LongLast,
    /// First double.
    DoubleFirst,
    /// Last double.
    DoubleLast,
    /// First float.
    FloatFirst,
    /// Last float.
    FloatLast,
}

impl MetricCombiner {
    fn column_kind(self) -> MetricKind {
        use MetricCombiner::*;
        match self {
            LongSum | LongMin | LongMax | LongFirst | LongLast => MetricKind::Long,
            DoubleSum | DoubleMin | DoubleMax | DoubleFirst | DoubleLast => MetricKind::Double,
            FloatSum | FloatMin | FloatMax | FloatFirst | FloatLast => MetricKind::Float,
            HyperUnique => MetricKind::Complex {
                type_name: "hyperUnique".into(),
            },
        }
    }
}

/// A metric accumulator of the pending output row.
#[derive(Debug, Clone)]
enum Acc {
    Long(i64),
    Float(f32),
    Double(f64),
    Bytes(Vec<u8>),
}

fn metric_kind(column: &Column) -> MetricKind {
    match column {
        Column::Long(_) => MetricKind::Long,
        Column::Float(_) => MetricKind::Float,
        Column::Double(_) => MetricKind::Double,
        Column::Complex(c) => MetricKind::Complex {
            type_name: c.type_name().to_string(),
        },
        Column::String(_) => MetricKind::Complex {
            type_name: "string".into(),
        },
    }
}

/// Merges `inputs` into one segment. `combiners` names the combining function of every metric
/// of the inputs; with `rollup`, rows with equal time and dimensions become one row. The
/// dimension order is rebuilt from the inputs' orders alone (see [`merge_segments_ordered`]).
pub fn merge_segments(
    inputs: &[Segment],
    combiners: &[(String, MetricCombiner)],
    rollup: bool,
    output: SegmentOutput,
) -> Result<WrittenSegment, SegmentError> {
    merge_segments_ordered(inputs, combiners, rollup, &[], output)
}

/// [`merge_segments`] with a dimension order hint (the spec's dimensions, or the order ingest
/// discovered them in): it decides what the inputs' own orders leave open, and wins when
/// inputs disagree (those inputs' rows are then re-sorted; see [`super::merge_order`]).
pub fn merge_segments_ordered(
    inputs: &[Segment],
    combiners: &[(String, MetricCombiner)],
    rollup: bool,
    dimension_hint: &[String],
    output: SegmentOutput,
) -> Result<WrittenSegment, SegmentError> {
    let spec = MergeSpec {
        combiners,
        rollup,
        dimension_hint,
        without_bitmap_index: &[],
        options: WriteOptions::default(),
    };
    merge_segments_with(inputs, &spec, output)
}

/// Input rows read between two releases of the inputs' resident pages: without them every
/// page of every input read so far counts as resident until the merge ends (~400 MB for the
/// ten hydrants of a 10M-row day).
const RELEASE_EVERY_ROWS: u64 = 1 << 20;

/// How a merge combines its inputs and writes its output (the realtime spec's part in it).
#[derive(Debug, Clone, Copy)]
pub struct MergeSpec<'a> {
    /// The combining function of every metric of the inputs.
    pub combiners: &'a [(String, MetricCombiner)],
    /// Rows with equal time and dimensions become one row.
    pub rollup: bool,
    /// The dimension order hint of [`merge_segments_ordered`].
    pub dimension_hint: &'a [String],
    /// String dimensions written without bitmap indexes (the spec's `createBitmapIndex: false`).
    pub without_bitmap_index: &'a [String],
    /// The output's column formats (the spec's `indexSpec`).
    pub options: WriteOptions,
}

/// [`merge_segments_ordered`] as `spec` says: with its column formats and bitmap choices.
pub fn merge_segments_with(
    inputs: &[Segment],
    spec: &MergeSpec<'_>,
    output: SegmentOutput,
) -> Result<WrittenSegment, SegmentError> {
    let mut plan = Plan::build(inputs, spec.combiners, spec.dimension_hint)?;
    for dim in &mut plan.schema.dimensions {
        if spec.without_bitmap_index.contains(&dim.name) {
            dim.bitmap_index = false;
        }
    }
    let rollup = spec.rollup;
    let mut writer = SegmentWriter::new(
        plan.schema.clone(),
        plan.dictionaries.clone(),
        output,
        spec.options,
    )?;
    let mut cursors = Vec::with_capacity(inputs.len());
    for (index, segment) in inputs.iter().enumerate() {
        let cursor = plan.cursor(segment, index)?;
        if plan.conforming[index] {
            cursors.push(cursor);
        } else {
            tracing::warn!(
                input = %segment.label(),
                dimensions = ?segment.dimension_names(),
                merged = ?plan.schema.dimensions.iter().map(|d| &d.name).collect::<Vec<_>>(),
                "input orders its dimensions differently from the merge; re-sorting its rows"
            );
            cursors.push(cursor.into_sorted()?);
        }
    }
    let runs: Vec<bool> = inputs
        .iter()
        .zip(&plan.conforming)
        .map(|(segment, conforming)| runs_allowed(segment, *conforming, rollup))
        .collect();
    let mut merger = Merger::new(plan.combiners.clone(), rollup, writer.new_batch());
    let mut run_batch = writer.new_batch();
    let (mut rows_read, mut released_at): (u64, u64) = (0, 0);
    while let Some(next) = smallest(&cursors) {
        let until_ms = others_min_time_ms(&cursors, next);
        let cursor = &mut cursors[next];
        if runs[next] && cursor.time_ms < until_ms && !merger.may_roll_up_at(cursor.time_ms) {
            // Rows no other input can match: flush what is pending, then copy them as a run.
            merger.flush(&mut writer)?;
            merger.write_batch(&mut writer)?;
            rows_read += u64::from(cursor.copy_run(until_ms, &mut run_batch, &mut writer)?);
        } else {
            merger.take(cursor, &mut writer)?;
            cursor.advance()?;
            rows_read += 1;
        }
        if rows_read - released_at >= RELEASE_EVERY_ROWS {
            inputs.iter().for_each(Segment::release_pages);
            released_at = rows_read;
        }
    }
    merger.flush(&mut writer)?;
    merger.write_batch(&mut writer)?;
    writer.finish()
}

/// The earliest current time of the inputs other than `input` (`i64::MAX` when they are done).
fn others_min_time_ms(cursors: &[InputCursor], input: usize) -> i64 {
    cursors
        .iter()
        .enumerate()
        .filter(|(index, cursor)| *index != input && !cursor.is_done())
        .map(|(_, cursor)| cursor.time_ms)
        .min()
        .unwrap_or(i64::MAX)
}

fn smallest(cursors: &[InputCursor]) -> Option<usize> {
    let mut best_opt: Option<usize> = None;
    for (index, cursor) in cursors.iter().enumerate() {
        if cursor.is_done() {
            continue;
        }
        let better = match best_opt {
            None => true,
            Some(best) => compare_keys(
                cursor.time_ms,
                &cursor.key,
                cursors[best].time_ms,
                &cursors[best].key,
            )
            .is_lt(),
        };
        if better {
            best_opt = Some(index);
        }
    }
    best_opt
}

/// Everything decided before rows flow: schema, merged dictionaries, per-input sources.
struct Plan {
    schema: SegmentSchema,
    dictionaries: Vec<Option<Dictionary>>,
    remaps: Vec<Vec<Vec<u32>>>,
    combiners: Vec<MetricCombiner>,
    /// Per input: its rows already follow the merged dimension order.
    conforming: Vec<bool>,
}

impl Plan {
    fn build(
        inputs: &[Segment],
        combiners: &[(String, MetricCombiner)],
        dimension_hint: &[String],
    ) -> Result<Plan, SegmentError> {
        let orders: Vec<Vec<String>> = inputs
            .iter()
            .map(|s| s.dimension_names().to_vec())
            .collect();
        let DimensionOrder {
            names: dim_names,
            conforming,
        } = merged_dimension_order(&orders, dimension_hint);
        let mut dimensions = Vec::new();
        let mut dictionaries = Vec::new();
        let mut remaps = Vec::new();
        for name in &dim_names {
            let (schema, dictionary_opt, remap) = merge_dimension(inputs, name)?;
            dimensions.push(schema);
            dictionaries.push(dictionary_opt);
            remaps.push(remap);
        }
        let by_name: HashMap<&str, MetricCombiner> =
            combiners.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        let mut metrics: Vec<MetricSchema> = Vec::new();
        let mut metric_combiners = Vec::new();
        for segment in inputs {
            for name in segment.metric_names() {
                let Some(column) = segment.column(name)? else {
                    continue;
                };
                let kind = metric_kind(&column);
                if let Some(existing) = metrics.iter().find(|m| &m.name == name) {
                    if existing.kind != kind {
                        return Err(SegmentError::InvalidInput(format!(
                            "metric `{name}` has kinds {:?} and {kind:?}",
                            existing.kind
                        )));
                    }
                    continue;
                }
                let combiner = *by_name.get(name.as_str()).ok_or_else(|| {
                    SegmentError::InvalidInput(format!("no combiner for metric `{name}`"))
                })?;
                if combiner.column_kind() != kind {
                    return Err(SegmentError::InvalidInput(format!(
                        "combiner {combiner:?} does not fit metric `{name}` of kind {kind:?}"
                    )));
                }
                metrics.push(MetricSchema {
                    name: name.clone(),
                    kind,
                });
                metric_combiners.push(combiner);
            }
        }
        let interval = Interval::new(
            inputs
                .iter()
                .map(|s| s.interval().start_ms)
                .min()
                .unwrap_or(0),
            inputs
                .iter()
                .map(|s| s.interval().end_ms)
                .max()
                .unwrap_or(0),
        );
        let metadata_list: Vec<Option<&Metadata>> = inputs.iter().map(Segment::metadata).collect();
        let schema = SegmentSchema {
            interval,
            dimensions,
            metrics,
            metadata: Metadata::merge(&metadata_list),
        };
        Ok(Plan {
            schema,
            dictionaries,
            remaps,
            combiners: metric_combiners,
            conforming,
        })
    }

    fn cursor(&self, segment: &Segment, input: usize) -> Result<InputCursor, SegmentError> {
        let mut dims = Vec::new();
        for (d, dim) in self.schema.dimensions.iter().enumerate() {
            let source = match (segment.column(&dim.name)?, &self.dictionaries[d]) {
                (Some(Column::String(column)), Some(_)) => {
                    DimSource::String(column, self.remaps[d][input].clone())
                }
                (Some(Column::Long(column)), None) => DimSource::Long(column),
                (Some(Column::Float(column)), None) => DimSource::Float(column),
                (Some(Column::Double(column)), None) => DimSource::Double(column),
                // A missing single-value dimension is null (id 0); a missing multi-value one is empty.
                (None, Some(_)) if dim.has_multiple_values => {
                    DimSource::Missing(KeyCell::Ids(Vec::new()))
                }
                (None, Some(_)) => DimSource::Missing(KeyCell::Ids(vec![0])),
                (None, None) => DimSource::Missing(missing_numeric(dim.kind)),
                _ => {
                    return Err(SegmentError::InvalidInput(format!(
                        "dimension `{}` changes kind between inputs",
                        dim.name
                    )));
                }
            };
            dims.push(source);
        }
        let mut metrics = Vec::new();
        for metric in &self.schema.metrics {
            metrics.push(match segment.column(&metric.name)? {
                Some(column) => MetricSource::Column(Box::new(column)),
                None => MetricSource::Missing,
            });
        }
        InputCursor::new(segment, dims, metrics)
    }
}

fn missing_numeric(kind: DimensionKind) -> KeyCell {
    match kind {
        DimensionKind::Float => KeyCell::Float(0.0),
        DimensionKind::Double => KeyCell::Double(0.0),
        _ => KeyCell::Long(0),
    }
}

type DimensionPlan = (DimensionSchema, Option<Dictionary>, Vec<Vec<u32>>);

fn merge_dimension(inputs: &[Segment], name: &str) -> Result<DimensionPlan, SegmentError> {
    let mut columns = Vec::with_capacity(inputs.len());
    for segment in inputs {
        columns.push(segment.column(name)?);
    }
    let first =
        columns.iter().flatten().next().ok_or_else(|| {
            SegmentError::InvalidInput(format!("dimension `{name}` has no column"))
        })?;
    let kind = match first {
        Column::String(_) => DimensionKind::String,
        Column::Long(_) => DimensionKind::Long,
        Column::Float(_) => DimensionKind::Float,
        Column::Double(_) => DimensionKind::Double,
        Column::Complex(_) => {
            return Err(SegmentError::InvalidInput(format!(
                "dimension `{name}` is a complex column"
            )));
        }
    };
    if kind != DimensionKind::String {
        return Ok((
            DimensionSchema {
                name: name.into(),
                kind,
                has_multiple_values: false,
                bitmap_index: true,
            },
            None,
            Vec::new(),
        ));
    }
    let dictionaries: Vec<_> = columns
        .iter()
        .map(|c| {
            if let Some(Column::String(s)) = c {
                Some(s.dictionary())
            } else {
                None
            }
        })
        .collect();
    let has_multiple_values = columns
        .iter()
        .any(|c| matches!(c, Some(Column::String(s)) if s.is_multi_value()));
    let add_null = columns
        .iter()
        .zip(inputs)
        .any(|(c, s)| c.is_none() && s.num_rows() > 0);
    let merged = merge_dictionaries(&dictionaries, add_null, name)?;
    let schema = DimensionSchema {
        name: name.into(),
        kind,
        has_multiple_values,
        bitmap_index: true,
    };
    Ok((schema, Some(Dictionary(merged.entries)), merged.remaps))
}

/// The pending output row and the rollup logic. Its buffers (key cells, metric accumulators)
/// are reused from row to row: the merge allocates nothing per row but the writer's cells.
struct Merger {
    has_pending: bool,
    time_ms: i64,
    key: Vec<KeyCell>,
    accs: Vec<Acc>,
    combiners: Vec<MetricCombiner>,
    rollup: bool,
    /// The allocations of the cell vectors of a row, kept from row to row.
    dims_spare: Vec<DimCell<'static>>,
    metrics_spare: Vec<MetricCell<'static>>,
    /// Output rows not yet handed to the writer.
    batch: RowBatch,
}

/// Output rows per batch handed to the writer.
const BATCH_ROWS: usize = 2048;

impl Merger {
    fn new(combiners: Vec<MetricCombiner>, rollup: bool, batch: RowBatch) -> Merger {
        let accs = combiners
            .iter()
            .map(|c| empty_acc(c.column_kind()))
            .collect();
        Merger {
            has_pending: false,
            time_ms: 0,
            key: Vec::new(),
            accs,
            combiners,
            rollup,
            dims_spare: Vec::new(),
            metrics_spare: Vec::new(),
            batch,
        }
    }

    fn take(
        &mut self,
        cursor: &mut InputCursor,
        writer: &mut SegmentWriter,
    ) -> Result<(), SegmentError> {
        if self.has_pending
            && self.rollup
            && compare_keys(self.time_ms, &self.key, cursor.time_ms, &cursor.key).is_eq()
        {
            return self.for_each_metric(cursor, combine_metric);
        }
        self.flush(writer)?;
        self.time_ms = cursor.time_ms;
        if self.key.len() == cursor.key.len() {
            for (mine, theirs) in self.key.iter_mut().zip(&cursor.key) {
                mine.assign(theirs);
            }
        } else {
            self.key.clone_from(&cursor.key);
        }
        self.has_pending = true;
        self.for_each_metric(cursor, load_metric)
    }

    /// True when a row at `time_ms` may roll up into the pending row.
    fn may_roll_up_at(&self, time_ms: i64) -> bool {
        self.has_pending && self.rollup && self.time_ms == time_ms
    }

    fn for_each_metric(
        &mut self,
        cursor: &InputCursor,
        apply: fn(&mut Acc, &MetricSource, u32, MetricCombiner) -> Result<(), SegmentError>,
    ) -> Result<(), SegmentError> {
        let row = cursor.row();
        for ((acc, source), combiner) in self
            .accs
            .iter_mut()
            .zip(&cursor.metrics)
            .zip(&self.combiners)
        {
            apply(acc, source, row, *combiner)?;
        }
        Ok(())
    }

    fn flush(&mut self, writer: &mut SegmentWriter) -> Result<(), SegmentError> {
        if !std::mem::replace(&mut self.has_pending, false) {
            return Ok(());
        }
        let mut dims: Vec<DimCell<'_>> = recycle(std::mem::take(&mut self.dims_spare));
        dims.extend(self.key.iter().map(|cell| match cell {
            KeyCell::Ids(ids) => DimCell::Ids(ids),
            KeyCell::Long(v) => DimCell::Long(*v),
            KeyCell::Float(v) => DimCell::Float(*v),
            KeyCell::Double(v) => DimCell::Double(*v),
        }));
        let mut metrics: Vec<MetricCell<'_>> = recycle(std::mem::take(&mut self.metrics_spare));
        metrics.extend(self.accs.iter().map(|acc| match acc {
            Acc::Long(v) => MetricCell::Long(*v),
            Acc::Float(v) => MetricCell::Float(*v),
            Acc::Double(v) => MetricCell::Double(*v),
            Acc::Bytes(bytes) => MetricCell::Complex(bytes),
        }));
        let result = self.batch.push_row(RowRef {
            time_ms: self.time_ms,
            dims: &dims,
            metrics: &metrics,
        });
        (self.dims_spare, self.metrics_spare) = (recycle(dims), recycle(metrics));
        result?;
        if self.batch.len() >= BATCH_ROWS {
            self.write_batch(writer)?;
        }
        Ok(())
    }

    /// Hands the batched rows to the writer.
    fn write_batch(&mut self, writer: &mut SegmentWriter) -> Result<(), SegmentError> {
        writer.add_batch(&self.batch)?;
        self.batch.clear();
        Ok(())
    }
}

fn empty_acc(kind: MetricKind) -> Acc {
    match kind {
        MetricKind::Long => Acc::Long(0),
        MetricKind::Float => Acc::Float(0.0),
        MetricKind::Double => Acc::Double(0.0),
        MetricKind::Complex { .. } => Acc::Bytes(Vec::new()),
    }
}

/// Sets `acc` to the metric of `row` (zero or an empty collector when the input lacks it).
fn load_metric(
    acc: &mut Acc,
    source: &MetricSource,
    row: u32,
    combiner: MetricCombiner,
) -> Result<(), SegmentError> {
    let column = match source {
        MetricSource::Column(column) => &**column,
        MetricSource::Missing => {
            match acc {
                Acc::Bytes(bytes) => bytes.clear(),
                other => *other = empty_acc(combiner.column_kind()),
            }
            return Ok(());
        }
    };
    match (column, acc) {
        (Column::Long(c), Acc::Long(a)) => *a = c.get(row)?,
        (Column::Float(c), Acc::Float(a)) => *a = c.get(row)?,
        (Column::Double(c), Acc::Double(a)) => *a = c.get(row)?,
        (Column::Complex(c), Acc::Bytes(a)) => {
            a.clear();
            a.extend_from_slice(c.get(row)?);
        }
        _ => return Err(mismatch(combiner)),
    }
    Ok(())
}

/// Combines the metric of `row` into `acc`.
fn combine_metric(
    acc: &mut Acc,
    source: &MetricSource,
    row: u32,
    combiner: MetricCombiner,
) -> Result<(), SegmentError> {
    let MetricSource::Column(column) = source else {
        // A missing metric is zero / an empty collector: only sums and folds are unaffected,
        // min, max and last see the zero as Druid's merger does.
        return combine(acc, empty_acc(combiner.column_kind()), combiner);
    };
    match (&**column, &mut *acc) {
        (Column::Complex(c), Acc::Bytes(a)) => fold_hyper_unique(a, c.get(row)?),
        (Column::Long(c), _) => combine(acc, Acc::Long(c.get(row)?), combiner),
        (Column::Float(c), _) => combine(acc, Acc::Float(c.get(row)?), combiner),
        (Column::Double(c), _) => combine(acc, Acc::Double(c.get(row)?), combiner),
        _ => Err(mismatch(combiner)),
    }
}

fn mismatch(combiner: MetricCombiner) -> SegmentError {
    SegmentError::InvalidInput(format!("combiner {combiner:?} got a mismatched value"))
}

fn combine(acc: &mut Acc, value: Acc, combiner: MetricCombiner) -> Result<(), SegmentError> {
    use MetricCombiner::*;
    match (acc, value) {
        (Acc::Long(a), Acc::Long(b)) => match combiner {
            LongSum => *a = a.wrapping_add(b),
            LongMin => *a = (*a).min(b),
            LongMax => *a = (*a).max(b),
            LongLast => *a = b,
            _ => {}
        },
        (Acc::Double(a), Acc::Double(b)) => match combiner {
            DoubleSum => *a += b,
            DoubleMin => *a = a.min(b),
            DoubleMax => *a = a.max(b),
            DoubleLast => *a = b,
            _ => {}
        },
        (Acc::Float(a), Acc::Float(b)) => match combiner {
            FloatSum => *a += b,
            FloatMin => *a = a.min(b),
            FloatMax => *a = a.max(b),
            FloatLast => *a = b,
            _ => {}
        },
        (Acc::Bytes(a), Acc::Bytes(b)) => fold_hyper_unique(a, &b)?,
        _ => return Err(mismatch(combiner)),
    }
    Ok(())
}

/// Folds serialized Druid HLL collector `other` into `acc` (empty = null collector).
fn fold_hyper_unique(acc: &mut Vec<u8>, other: &[u8]) -> Result<(), SegmentError> {
    if other.is_empty() {
        return Ok(());
    }
    if acc.is_empty() {
        acc.extend_from_slice(other);
        return Ok(());
    }
    let corrupt = |e: crate::hll::HllError| {
        SegmentError::InvalidInput(format!("hyperUnique value cannot be read: {e}"))
    };
    let mut collector = crate::hll::HyperLogLogCollector::from_bytes(acc).map_err(corrupt)?;
    collector.fold(&crate::hll::HyperLogLogCollector::from_bytes(other).map_err(corrupt)?);
    acc.clear();
    collector.write_bytes(acc);
    Ok(())
}
