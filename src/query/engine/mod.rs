//! One engine per query type. Each runs per hydrant of every segment the query reads, merges the
//! partial results (aggregates combine, so hydrants and segments may split rows anywhere), and
//! writes Druid's result JSON.

pub mod groupby;
pub mod metadata;
pub mod scan;
pub mod search;
pub mod select;
pub mod time_boundary;
pub mod timeseries;
pub mod topn;

use serde_json::Value;

use crate::query::error::QueryResult;
use crate::query::exec::{Env, Unit};
use crate::query::spec::{Query, QueryKind};

/// Runs `query` over `units`.
pub fn run(query: &Query, units: &[Unit], env: Env<'_>) -> QueryResult<Value> {
    match &query.kind {
        QueryKind::Timeseries(spec) => timeseries::run(query, spec, units, env),
        QueryKind::TopN(spec) => topn::run(query, spec, units, env),
        QueryKind::GroupBy(spec) => groupby::run(query, spec, units, env),
        QueryKind::Scan(spec) => scan::run(query, spec, units, env),
        QueryKind::Select(spec) => select::run(query, spec, units, env),
        QueryKind::TimeBoundary(spec) => time_boundary::run(query, spec, units, env),
        QueryKind::SegmentMetadata(spec) => metadata::run_segment_metadata(query, spec, units, env),
        QueryKind::Search(spec) => search::run(query, spec, units, env),
        QueryKind::DataSourceMetadata => metadata::run_data_source_metadata(query, units, env),
    }
}
