//! Aggregation: aggregator specs, values and their merge, segment-bound accumulators,
//! post-aggregators, `having` and `limitSpec`.

pub mod accum;
pub mod having;
pub mod limit;
pub mod num;
pub mod pick;
pub mod post;
pub mod sketch;
pub mod spec;
pub mod value;

use serde_json::{Map, Value};

pub use spec::{AggKind, AggSpec};
pub use value::AggValue;

use crate::query::error::QueryResult;
use post::PostAgg;

/// Writes the aggregator and post-aggregator values of one result row into `out`.
pub fn write_values(
    out: &mut Map<String, Value>,
    specs: &[AggSpec],
    values: &[AggValue],
    posts: &[PostAgg],
    finalize: bool,
) -> QueryResult<()> {
    for (spec, value) in specs.iter().zip(values) {
        out.insert(spec.name.clone(), value.to_json(spec, finalize));
    }
    if !posts.is_empty() {
        for (name, value) in post::compute_all(posts, specs, values)? {
            out.insert(name, value.to_json(specs, finalize));
        }
    }
    Ok(())
}
