//! `scan`: raw rows (`list` objects or `compactedList` arrays) in batches per segment, optionally
//! time-ordered, bounded by `limit` and by `druid.rtnode.query.maxScanRows`.

use serde_json::{Map, Value, json};

use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::buckets::{chunks, selected_rows};
use crate::query::exec::cells::cell_json;
use crate::query::exec::view::SegmentView;
use crate::query::exec::{Env, Unit};
use crate::query::filter::eval::evaluate;
use crate::query::spec::Query;
use crate::query::spec::json::Obj;

/// Time order of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// Segment order.
    None,
    /// Oldest first.
    Ascending,
    /// Newest first.
    Descending,
}

/// The `scan` fields.
#[derive(Debug, Clone)]
pub struct ScanSpec {
    /// Columns returned (all when empty).
    pub columns: Vec<String>,
    /// `compactedList` (arrays) instead of `list` (objects).
    pub compacted: bool,
    /// Rows returned at most.
    pub limit: Option<usize>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Time order.
    pub order: ScanOrder,
}

impl ScanSpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<ScanSpec> {
        let compacted = match o.opt_str("resultFormat")?.unwrap_or("list") {
            "list" => false,
            "compactedList" => true,
            other => {
                return Err(QueryError::unsupported(format!(
                    "scan resultFormat `{other}` is not supported (use `list` or `compactedList`)"
                )));
            }
        };
        let order = match o
            .opt_str("order")?
            .or(o.opt_str("timeOrder")?)
            .unwrap_or("none")
        {
            o if o.eq_ignore_ascii_case("none") => ScanOrder::None,
            o if o.eq_ignore_ascii_case("ascending") => ScanOrder::Ascending,
            o if o.eq_ignore_ascii_case("descending") => ScanOrder::Descending,
            other => return Err(QueryError::invalid(format!("unknown scan order `{other}`"))),
        };
        Ok(ScanSpec {
            columns: o.opt_strings("columns")?.unwrap_or_default(),
            compacted,
            limit: o.opt_i64("limit")?.filter(|l| *l > 0).map(|l| l as usize),
            batch_size: o.opt_i64("batchSize")?.unwrap_or(20480).clamp(1, 1 << 20) as usize,
            order,
        })
    }
}

/// One row with where it came from.
struct ScanRow {
    segment_id: usize,
    time_ms: i64,
    values: Vec<Value>,
}

/// Runs the query.
pub fn run(query: &Query, spec: &ScanSpec, units: &[Unit], env: Env<'_>) -> QueryResult<Value> {
    let wanted = spec.limit.unwrap_or(usize::MAX);
    let max = env.config.max_scan_rows;
    let mut rows: Vec<ScanRow> = Vec::new();
    let mut columns_by_segment: Vec<(String, Vec<String>)> = Vec::new();
    'units: for unit in units {
        for hydrant in &unit.segment.hydrants {
            let mut view = SegmentView::for_query(hydrant, env);
            let columns = if spec.columns.is_empty() {
                std::iter::once("__time".to_string())
                    .chain(hydrant.dimension_names().iter().cloned())
                    .chain(hydrant.metric_names().iter().cloned())
                    .collect()
            } else {
                spec.columns.clone()
            };
            let index = columns_by_segment.len();
            columns_by_segment.push((unit.segment.identifier.clone(), columns.clone()));
            let limit = if spec.order == ScanOrder::None {
                wanted - rows.len()
            } else {
                usize::MAX
            };
            read_rows(
                query,
                &unit.intervals,
                &mut view,
                &columns,
                index,
                limit,
                max,
                &mut rows,
            )?;
            if rows.len() >= wanted && spec.order == ScanOrder::None {
                break 'units;
            }
        }
    }
    match spec.order {
        ScanOrder::None => {}
        ScanOrder::Ascending => rows.sort_by_key(|r| r.time_ms),
        ScanOrder::Descending => rows.sort_by_key(|r| std::cmp::Reverse(r.time_ms)),
    }
    rows.truncate(wanted);
    Ok(Value::Array(batches(rows, &columns_by_segment, spec)))
}

#[allow(clippy::too_many_arguments)]
fn read_rows(
    query: &Query,
    intervals: &[crate::time::Interval],
    view: &mut SegmentView<'_>,
    columns: &[String],
    segment_id: usize,
    limit: usize,
    max: usize,
    out: &mut Vec<ScanRow>,
) -> QueryResult<()> {
    let bits = match &query.filter {
        Some(filter) => evaluate(filter, view)?,
        None => None,
    };
    let handles = columns
        .iter()
        .map(|c| view.column(c))
        .collect::<QueryResult<Vec<_>>>()?;
    let (mut selected, mut ids, mut taken) = (Vec::new(), Vec::new(), 0usize);
    for interval in intervals {
        for chunk in chunks(view.rows_in(interval)?) {
            view.cancel.check()?;
            selected_rows(bits.as_ref(), chunk, &mut selected);
            for row in &selected {
                if taken >= limit {
                    return Ok(());
                }
                if out.len() >= max {
                    return Err(QueryError::ResourceLimit(format!(
                        "scan would return more than {max} rows (`druid.rtnode.query.maxScanRows`); \
                         set a `limit` or narrow the intervals"
                    )));
                }
                let mut values = Vec::with_capacity(handles.len());
                for handle in &handles {
                    values.push(match handle {
                        Some(column) => cell_json(column, *row, &mut ids)?,
                        None => Value::Null,
                    });
                }
                out.push(ScanRow {
                    segment_id,
                    time_ms: view.time_at(*row)?,
                    values,
                });
                taken += 1;
            }
        }
    }
    Ok(())
}

fn batches(rows: Vec<ScanRow>, segments: &[(String, Vec<String>)], spec: &ScanSpec) -> Vec<Value> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<Value>)> = None;
    let flush = |current: &mut Option<(usize, Vec<Value>)>, out: &mut Vec<Value>| {
        if let Some((segment, events)) = current.take() {
            let (id, columns) = &segments[segment];
            out.push(json!({"segmentId": id, "columns": columns, "events": events}));
        }
    };
    for row in rows {
        let same = current
            .as_ref()
            .is_some_and(|(s, e)| *s == row.segment_id && e.len() < spec.batch_size);
        if !same {
            flush(&mut current, &mut out);
            current = Some((row.segment_id, Vec::new()));
        }
        let columns = &segments[row.segment_id].1;
        let event = if spec.compacted {
            Value::Array(row.values)
        } else {
            Value::Object(
                columns
                    .iter()
                    .cloned()
                    .zip(row.values)
                    .collect::<Map<_, _>>(),
            )
        };
        if let Some((_, events)) = current.as_mut() {
            events.push(event);
        }
    }
    flush(&mut current, &mut out);
    out
}
