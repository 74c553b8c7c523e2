//! `timeBoundary`: the earliest and latest row time (of the filtered rows, when filtered).

use serde_json::{Map, Value};

use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::view::SegmentView;
use crate::query::exec::{Env, Unit};
use crate::query::filter::eval::evaluate;
use crate::query::spec::Query;
use crate::query::spec::json::Obj;
use crate::time::format_iso;

/// The `timeBoundary` fields.
#[derive(Debug, Clone)]
pub struct TimeBoundarySpec {
    /// `minTime` or `maxTime` for one side only.
    pub bound: Option<String>,
}

impl TimeBoundarySpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<TimeBoundarySpec> {
        let bound = o.opt_str("bound")?.map(str::to_string);
        if let Some(b) = &bound
            && b != "minTime"
            && b != "maxTime"
        {
            return Err(QueryError::invalid(format!(
                "timeBoundary `bound` must be `minTime` or `maxTime`, got `{b}`"
            )));
        }
        Ok(TimeBoundarySpec { bound })
    }
}

/// Runs the query.
pub fn run(
    query: &Query,
    spec: &TimeBoundarySpec,
    units: &[Unit],
    env: Env<'_>,
) -> QueryResult<Value> {
    let mut range: Option<(i64, i64)> = None;
    for unit in units {
        for hydrant in &unit.segment.hydrants {
            let mut view = SegmentView::for_query(hydrant, env);
            if let Some((lo, hi)) = segment_bounds(query, &unit.intervals, &mut view)? {
                range = Some(match range {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
        }
    }
    let Some((min_ms, max_ms)) = range else {
        return Ok(Value::Array(Vec::new()));
    };
    let mut result = Map::new();
    let want = |name: &str| spec.bound.as_deref().is_none_or(|b| b == name);
    if want("minTime") {
        result.insert("minTime".into(), Value::String(format_iso(min_ms)));
    }
    if want("maxTime") {
        result.insert("maxTime".into(), Value::String(format_iso(max_ms)));
    }
    let timestamp_ms = if spec.bound.as_deref() == Some("maxTime") {
        max_ms
    } else {
        min_ms
    };
    let mut row = Map::new();
    row.insert("timestamp".into(), Value::String(format_iso(timestamp_ms)));
    row.insert("result".into(), Value::Object(result));
    Ok(Value::Array(vec![Value::Object(row)]))
}

fn segment_bounds(
    query: &Query,
    intervals: &[crate::time::Interval],
    view: &mut SegmentView<'_>,
) -> QueryResult<Option<(i64, i64)>> {
    let bits = match &query.filter {
        Some(filter) => evaluate(filter, view)?,
        None => None,
    };
    let mut first: Option<u32> = None;
    let mut last: Option<u32> = None;
    for interval in intervals {
        let rows = view.rows_in(interval)?;
        if rows.is_empty() {
            continue;
        }
        let (lo, hi) = match &bits {
            None => (Some(rows.start), Some(rows.end - 1)),
            Some(bits) => {
                let mut iter = bits.iter();
                iter.advance_to(rows.start);
                let lo = iter.next().filter(|r| *r < rows.end);
                let hi = bits.range(rows.clone()).next_back();
                (lo, hi)
            }
        };
        if let (Some(lo), Some(hi)) = (lo, hi) {
            first = Some(first.map_or(lo, |f| f.min(lo)));
            last = Some(last.map_or(hi, |l| l.max(hi)));
        }
    }
    match (first, last) {
        (Some(lo), Some(hi)) => Ok(Some((view.time_at(lo)?, view.time_at(hi)?))),
        _ => Ok(None),
    }
}
