//! Druid native queries over everything the node holds.
//!
//! ```text
//! JSON ──Query::parse──▶ Query ──exec::resolve──▶ units (segment + intervals read in it)
//!        (spec/)                                     │ per hydrant (SegmentView)
//!                                                    ▼
//!   filter/eval: Filter ─▶ row bitmap (string columns: dictionary lookup + bitmap index union)
//!   exec/buckets: granularity ─▶ row ranges (one pass over the sorted __time column)
//!   exec/grouper: dimension ids ─▶ group slots (array index or hash)
//!   agg/accum: block-wise folds of each column into slots
//!                                                    │ partial results combine (agg/value)
//!                                                    ▼
//!   engine/<type>: merge hydrants and segments, post-aggregate, having, order, limit ─▶ JSON
//! ```
//!
//! Results match Druid's JSON (longs stay integers, doubles keep a fraction: `905` vs `905.0`);
//! `finalize: false` returns intermediate values (hyperUnique collectors as base64) for brokers.

pub mod agg;
pub mod config;
pub mod engine;
pub mod error;
pub mod exec;
pub mod filter;
pub mod spec;
pub mod target;

use serde_json::Value;

pub use config::QueryConfig;
pub use error::{QueryError, QueryResult};
pub use exec::Cancel;
pub use spec::Query;
pub use target::{QueryTarget, QueryableSegment, StaticTarget};

/// The Druid version this node reports (`/status`) and answers as.
pub const DRUID_VERSION: &str = "0.22.1-rtnode";

/// Parses a query body (JSON bytes).
pub fn parse(body: &[u8]) -> QueryResult<Query> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| QueryError::Json(format!("invalid query JSON: {e}")))?;
    Query::parse(&value)
}

/// Runs a parsed query to its JSON result.
pub fn execute(
    query: &Query,
    target: &dyn QueryTarget,
    config: &QueryConfig,
    cancel: &Cancel,
) -> QueryResult<Value> {
    exec::run(query, target, config, cancel)
}

/// Parses and runs a JSON query with no timeout (tests and tools).
pub fn run_json(target: &dyn QueryTarget, query: &Value) -> QueryResult<Value> {
    let query = Query::parse(query)?;
    execute(&query, target, &QueryConfig::default(), &Cancel::never())
}
