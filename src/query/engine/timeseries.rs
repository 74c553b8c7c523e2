//! `timeseries`: aggregates per time bucket. Unfiltered buckets fold whole row ranges
//! (vectorized block folds); filtered ones scatter the bitmap's rows.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::query::agg::accum::{Accumulator, bind_all};
use crate::query::agg::post::PostAgg;
use crate::query::agg::value::{AggValue, combine_values, initial_values};
use crate::query::agg::{AggSpec, write_values};
use crate::query::error::QueryResult;
use crate::query::exec::buckets::{ALL_KEY, bucket_starts, buckets, chunks, selected_rows};
use crate::query::exec::view::SegmentView;
use crate::query::exec::{Env, Unit};
use crate::query::filter::eval::evaluate;
use crate::query::spec::Query;
use crate::query::spec::json::Obj;
use crate::time::format_iso;

/// Empty buckets filled in per segment at most (beyond, empty buckets are left out).
const MAX_FILLED_BUCKETS: usize = 100_000;

/// The `timeseries` fields.
#[derive(Debug, Clone)]
pub struct TimeseriesSpec {
    /// Aggregators.
    pub aggs: Vec<AggSpec>,
    /// Post-aggregators.
    pub posts: Vec<PostAgg>,
    /// Result rows kept.
    pub limit: Option<usize>,
}

impl TimeseriesSpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<TimeseriesSpec> {
        Ok(TimeseriesSpec {
            aggs: AggSpec::parse_list(o.get("aggregations"))?,
            posts: PostAgg::parse_list(o.get("postAggregations"))?,
            limit: o.opt_i64("limit")?.filter(|l| *l > 0).map(|l| l as usize),
        })
    }
}

/// Per merge key: the result timestamp and the values.
type Series = BTreeMap<i64, (i64, Vec<AggValue>)>;

/// Runs the query.
pub fn run(
    query: &Query,
    spec: &TimeseriesSpec,
    units: &[Unit],
    env: Env<'_>,
) -> QueryResult<Value> {
    let mut series = Series::new();
    for unit in units {
        let mut range: Option<(i64, i64)> = None;
        for hydrant in &unit.segment.hydrants {
            let mut view = SegmentView::for_query(hydrant, env);
            run_segment(query, spec, &unit.intervals, &mut view, &mut series)?;
            if let Some((lo, hi)) = view.time_range()? {
                range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        if let Some(range) = range
            && !query.context.skip_empty_buckets
            && fills_empty_buckets(query)
        {
            fill_empty(query, spec, &unit.intervals, range, &mut series);
        }
    }
    let finalize = query.context.finalize;
    let mut out = Vec::with_capacity(series.len());
    let mut entries: Vec<&(i64, Vec<AggValue>)> = series.values().collect();
    if query.descending {
        entries.reverse();
    }
    for (timestamp_ms, values) in entries {
        let mut result = Map::new();
        write_values(&mut result, &spec.aggs, values, &spec.posts, finalize)?;
        let mut row = Map::new();
        row.insert("timestamp".into(), Value::String(format_iso(*timestamp_ms)));
        row.insert("result".into(), Value::Object(result));
        out.push(Value::Object(row));
        if spec.limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    Ok(Value::Array(out))
}

fn run_segment(
    query: &Query,
    spec: &TimeseriesSpec,
    intervals: &[crate::time::Interval],
    view: &mut SegmentView<'_>,
    series: &mut Series,
) -> QueryResult<()> {
    let buckets = buckets(view, intervals, &query.granularity)?;
    if buckets.is_empty() {
        return Ok(());
    }
    let bits = match &query.filter {
        Some(filter) => evaluate(filter, view)?,
        None => None,
    };
    let mut accs = bind_all(&spec.aggs, view)?;
    let (mut rows, mut slots) = (Vec::new(), Vec::new());
    for bucket in &buckets {
        accs.iter_mut().for_each(|a| a.reset(1));
        for chunk in chunks(bucket.rows.clone()) {
            view.cancel.check()?;
            if bits.is_none() {
                for acc in accs.iter_mut() {
                    acc.add_range(chunk.clone(), 0)?;
                }
                continue;
            }
            selected_rows(bits.as_ref(), chunk, &mut rows);
            slots.clear();
            slots.resize(rows.len(), 0);
            for acc in accs.iter_mut() {
                acc.add_rows(&rows, &slots)?;
            }
        }
        let values = accs
            .iter()
            .map(|a| a.value(0))
            .collect::<QueryResult<Vec<_>>>()?;
        merge(
            series,
            &spec.aggs,
            bucket.key_ms,
            bucket.timestamp_ms,
            values,
        );
    }
    Ok(())
}

fn fills_empty_buckets(query: &Query) -> bool {
    !matches!(
        query.granularity,
        crate::index::granularity::Granularity::All | crate::index::granularity::Granularity::None
    )
}

/// Adds zero-valued buckets between a segment's first and last row (Druid's default), over
/// all hydrants of the segment.
fn fill_empty(
    query: &Query,
    spec: &TimeseriesSpec,
    intervals: &[crate::time::Interval],
    (min_ms, max_ms): (i64, i64),
    series: &mut Series,
) {
    for interval in intervals {
        let from = interval.start_ms.max(min_ms);
        let to = interval.end_ms.min(max_ms.saturating_add(1));
        if from >= to {
            continue;
        }
        let Some(starts) = bucket_starts(&query.granularity, from, to, MAX_FILLED_BUCKETS) else {
            continue;
        };
        for start in starts.into_iter().filter(|s| *s != ALL_KEY) {
            series
                .entry(start)
                .or_insert_with(|| (start, initial_values(&spec.aggs)));
        }
    }
}

fn merge(
    series: &mut Series,
    aggs: &[AggSpec],
    key: i64,
    timestamp_ms: i64,
    values: Vec<AggValue>,
) {
    match series.get_mut(&key) {
        Some((ts, existing)) => {
            *ts = (*ts).min(timestamp_ms);
            combine_values(existing, &values, aggs);
        }
        None => {
            series.insert(key, (timestamp_ms, values));
        }
    }
}

/// Returns the accumulators' values of `slot`.
pub fn slot_values(accs: &[Box<dyn Accumulator + '_>], slot: u32) -> QueryResult<Vec<AggValue>> {
    accs.iter().map(|a| a.value(slot)).collect()
}
