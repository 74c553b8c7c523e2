//! `select` (legacy paging): raw events with per-segment offsets; `pagingIdentifiers` say where
//! each segment stopped, so the next page starts after it (`fromNext`, Druid ≥ 0.10 default).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::index::granularity::Granularity;
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::buckets::{chunks, selected_rows};
use crate::query::exec::cells::cell_json;
use crate::query::exec::view::SegmentView;
use crate::query::exec::{Env, Unit};
use crate::query::filter::eval::evaluate;
use crate::query::spec::json::{Obj, obj};
use crate::query::spec::{DimensionSpec, Query};
use crate::time::format_iso;

/// The `select` fields.
#[derive(Debug, Clone)]
pub struct SelectSpec {
    /// Dimensions returned (all when empty).
    pub dimensions: Vec<DimensionSpec>,
    /// Metrics returned (all when empty).
    pub metrics: Vec<String>,
    /// Per segment id: the offset the previous page stopped at.
    pub paging: BTreeMap<String, i64>,
    /// Events per page.
    pub threshold: usize,
    /// Start after the paging offsets (true) or at them.
    pub from_next: bool,
}

impl SelectSpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<SelectSpec> {
        let paging_value = o.get("pagingSpec").ok_or_else(|| o.missing("pagingSpec"))?;
        let paging_spec = obj(paging_value, "pagingSpec")?;
        let mut paging = BTreeMap::new();
        if let Some(ids) = paging_spec.get("pagingIdentifiers") {
            for (id, offset) in obj(ids, "pagingIdentifiers")?.map {
                let offset = offset
                    .as_i64()
                    .ok_or_else(|| QueryError::invalid("paging offsets must be integers"))?;
                paging.insert(id.clone(), offset);
            }
        }
        Ok(SelectSpec {
            dimensions: DimensionSpec::parse_list(o.get("dimensions"))?,
            metrics: o.opt_strings("metrics")?.unwrap_or_default(),
            paging,
            threshold: paging_spec.opt_i64("threshold")?.unwrap_or(0).max(0) as usize,
            from_next: paging_spec.opt_bool("fromNext")?.unwrap_or(true),
        })
    }
}

struct Event {
    time_ms: i64,
    segment: String,
    offset: i64,
    event: Map<String, Value>,
}

/// Runs the query.
pub fn run(query: &Query, spec: &SelectSpec, units: &[Unit], env: Env<'_>) -> QueryResult<Value> {
    let mut events = Vec::new();
    let (mut dim_names, mut metric_names) = (Vec::<String>::new(), Vec::<String>::new());
    for unit in units {
        let id = &unit.segment.identifier;
        let start = match spec.paging.get(id) {
            Some(offset) if spec.from_next => offset.unsigned_abs() as usize + 1,
            Some(offset) => offset.unsigned_abs() as usize,
            None => 0,
        };
        let (mut seen, mut taken) = (0usize, 0usize);
        let hydrants: Vec<_> = if query.descending {
            unit.segment.hydrants.iter().rev().collect()
        } else {
            unit.segment.hydrants.iter().collect()
        };
        for hydrant in hydrants {
            let mut view = SegmentView::for_query(hydrant, env);
            let dims: Vec<DimensionSpec> = if spec.dimensions.is_empty() {
                hydrant
                    .dimension_names()
                    .iter()
                    .map(|d| DimensionSpec::plain(d))
                    .collect()
            } else {
                spec.dimensions.clone()
            };
            let metrics = if spec.metrics.is_empty() {
                hydrant.metric_names().to_vec()
            } else {
                spec.metrics.clone()
            };
            for d in &dims {
                if !dim_names.contains(&d.output_name) {
                    dim_names.push(d.output_name.clone());
                }
            }
            for m in &metrics {
                if !metric_names.contains(m) {
                    metric_names.push(m.clone());
                }
            }
            let rows = selected(query, &unit.intervals, &mut view)?;
            let ordered: Box<dyn Iterator<Item = &u32>> = if query.descending {
                Box::new(rows.iter().rev())
            } else {
                Box::new(rows.iter())
            };
            for row in ordered {
                let offset = seen;
                seen += 1;
                if offset < start {
                    continue;
                }
                if taken >= spec.threshold {
                    break;
                }
                taken += 1;
                let event = read_event(&mut view, *row, &dims, &metrics)?;
                let signed = if query.descending {
                    -(offset as i64) - 1
                } else {
                    offset as i64
                };
                events.push(Event {
                    time_ms: view.time_at(*row)?,
                    segment: id.clone(),
                    offset: signed,
                    event,
                });
            }
        }
    }
    if events.len() > env.config.max_scan_rows {
        return Err(QueryError::ResourceLimit(format!(
            "select would return more than {} rows; lower the paging threshold",
            env.config.max_scan_rows
        )));
    }
    if query.descending {
        events.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
    } else {
        events.sort_by_key(|e| e.time_ms);
    }
    events.truncate(spec.threshold);
    Ok(Value::Array(results(
        query,
        events,
        &dim_names,
        &metric_names,
    )))
}

fn selected(
    query: &Query,
    intervals: &[crate::time::Interval],
    view: &mut SegmentView<'_>,
) -> QueryResult<Vec<u32>> {
    let bits = match &query.filter {
        Some(filter) => evaluate(filter, view)?,
        None => None,
    };
    let (mut out, mut chunk_rows) = (Vec::new(), Vec::new());
    for interval in intervals {
        for chunk in chunks(view.rows_in(interval)?) {
            view.cancel.check()?;
            selected_rows(bits.as_ref(), chunk, &mut chunk_rows);
            out.extend_from_slice(&chunk_rows);
        }
    }
    Ok(out)
}

fn read_event(
    view: &mut SegmentView<'_>,
    row: u32,
    dims: &[DimensionSpec],
    metrics: &[String],
) -> QueryResult<Map<String, Value>> {
    let mut ids = Vec::new();
    let mut event = Map::new();
    event.insert(
        "timestamp".into(),
        Value::String(format_iso(view.time_at(row)?)),
    );
    for dim in dims {
        let value = match view.column(&dim.dimension)? {
            Some(column) => cell_json(&column, row, &mut ids)?,
            None => Value::Null,
        };
        let value = match (&dim.extraction, value) {
            (Some(f), Value::String(s)) => f.apply(Some(&s)).map_or(Value::Null, Value::String),
            (Some(f), Value::Null) => f.apply(None).map_or(Value::Null, Value::String),
            (_, other) => other,
        };
        event.insert(dim.output_name.clone(), value);
    }
    for metric in metrics {
        let value = match view.column(metric)? {
            Some(column) => cell_json(&column, row, &mut ids)?,
            None => Value::Null,
        };
        event.insert(metric.clone(), value);
    }
    Ok(event)
}

fn results(query: &Query, events: Vec<Event>, dims: &[String], metrics: &[String]) -> Vec<Value> {
    let mut buckets: Vec<(i64, Vec<Event>)> = Vec::new();
    for event in events {
        let key = match &query.granularity {
            Granularity::All => i64::MIN,
            g => g.truncate(event.time_ms),
        };
        match buckets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(event),
            None => buckets.push((key, vec![event])),
        }
    }
    buckets
        .into_iter()
        .map(|(key, list)| {
            let timestamp = if key == i64::MIN { list[0].time_ms } else { key };
            let mut paging = Map::new();
            for e in &list {
                paging.insert(e.segment.clone(), Value::from(e.offset));
            }
            let events: Vec<Value> = list
                .into_iter()
                .map(|e| json!({"segmentId": e.segment, "offset": e.offset, "event": e.event}))
                .collect();
            json!({
                "timestamp": format_iso(timestamp),
                "result": {"pagingIdentifiers": paging, "dimensions": dims, "metrics": metrics, "events": events}
            })
        })
        .collect()
}
