//! Query execution: resolving which segments (and which of their intervals) a query reads, the
//! shared per-segment machinery (views, buckets, dimension readers, grouping, cells), and the
//! dispatch to the engine of each query type.

pub mod buckets;
pub mod cancel;
pub mod cells;
pub mod dims;
pub mod grouped;
pub mod grouper;
pub mod view;
mod virtual_columns;

use serde_json::{Value, json};

use crate::query::config::QueryConfig;
use crate::query::engine;
use crate::query::error::QueryResult;
use crate::query::spec::virtual_column::VirtualColumn;
use crate::query::spec::{Query, SegmentSpec};
use crate::query::target::{QueryTarget, QueryableSegment};
use crate::time::Interval;
pub use cancel::Cancel;

/// One segment a query reads, with the intervals to read in it.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The segment (a sink and its hydrants).
    pub segment: QueryableSegment,
    /// The parts of the segment to read (sorted, disjoint).
    pub intervals: Vec<Interval>,
}

/// What an engine needs besides the query.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// Limits.
    pub config: &'a QueryConfig,
    /// The stop signal.
    pub cancel: &'a Cancel,
    /// The query's virtual columns.
    pub virtual_columns: &'a [VirtualColumn],
}

/// Returns the segments `query` reads, ordered by interval, version and partition.
pub fn resolve(query: &Query, target: &dyn QueryTarget) -> Vec<Unit> {
    let mut units = Vec::new();
    for name in query.data_source.names() {
        for segment in target.segments(&name) {
            let intervals: Vec<Interval> = match &query.spec {
                SegmentSpec::Intervals(intervals) => intervals
                    .iter()
                    .filter_map(|i| i.intersect(&segment.interval))
                    .collect(),
                SegmentSpec::Segments(descriptors) => descriptors
                    .iter()
                    .filter(|d| {
                        d.partition == segment.partition
                            && (d.version.is_empty() || d.version == segment.version)
                            && segment.interval.overlaps(&d.interval)
                    })
                    .filter_map(|d| d.interval.intersect(&segment.interval))
                    .collect(),
            };
            if !intervals.is_empty() {
                units.push(Unit {
                    intervals: crate::query::spec::common::condense(intervals),
                    segment,
                });
            }
        }
    }
    units.sort_by(|a, b| {
        (a.segment.interval, &a.segment.version, a.segment.partition).cmp(&(
            b.segment.interval,
            &b.segment.version,
            b.segment.partition,
        ))
    });
    units
}

/// Runs `query` against `target` and returns the JSON result array.
pub fn run(
    query: &Query,
    target: &dyn QueryTarget,
    config: &QueryConfig,
    cancel: &Cancel,
) -> QueryResult<Value> {
    let units = resolve(query, target);
    cancel.check()?;
    let env = Env {
        config,
        cancel,
        virtual_columns: &query.virtual_columns,
    };
    if !query.context.by_segment {
        return engine::run(query, &units, env);
    }
    let mut out = Vec::new();
    for unit in units {
        let interval = unit.segment.interval;
        let identifier = unit.segment.identifier.clone();
        let results = engine::run(query, std::slice::from_ref(&unit), env)?;
        let timestamp = results
            .as_array()
            .and_then(|r| r.first())
            .and_then(|r| r.get("timestamp"))
            .cloned()
            .unwrap_or_else(|| Value::String(crate::time::format_iso(interval.start_ms)));
        out.push(json!({
            "timestamp": timestamp,
            "result": {
                "results": results,
                "segment": identifier,
                "interval": interval.to_string(),
            }
        }));
    }
    Ok(Value::Array(out))
}
