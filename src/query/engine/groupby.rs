//! `groupBy` (v1 result rows): groups by any number of dimensions per time bucket, then
//! post-aggregates, applies `having`, sorts and limits (`limitSpec`).

use serde_json::{Map, Value, json};

use crate::index::granularity::Granularity;
use crate::query::agg::having::Having;
use crate::query::agg::limit::LimitSpec;
use crate::query::agg::post::PostAgg;
use crate::query::agg::{AggSpec, write_values};
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::grouped::aggregate;
use crate::query::exec::{Env, Unit};
use crate::query::filter::StringOrdering;
use crate::query::spec::json::Obj;
use crate::query::spec::{DimensionSpec, Query};
use crate::time::format_iso;

/// The `groupBy` fields.
#[derive(Debug, Clone)]
pub struct GroupBySpec {
    /// Grouping dimensions.
    pub dimensions: Vec<DimensionSpec>,
    /// Aggregators.
    pub aggs: Vec<AggSpec>,
    /// Post-aggregators.
    pub posts: Vec<PostAgg>,
    /// Row test after aggregation.
    pub having: Option<Having>,
    /// Ordering and limit.
    pub limit: Option<LimitSpec>,
}

impl GroupBySpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<GroupBySpec> {
        if o.get("dataSource")
            .and_then(|d| d.get("type"))
            .and_then(Value::as_str)
            == Some("query")
        {
            return Err(QueryError::unsupported(
                "nested groupBy queries are not supported",
            ));
        }
        Ok(GroupBySpec {
            dimensions: DimensionSpec::parse_list(o.get("dimensions"))?,
            aggs: AggSpec::parse_list(o.get("aggregations"))?,
            posts: PostAgg::parse_list(o.get("postAggregations"))?,
            having: Having::parse_opt(o.get("having"))?,
            limit: LimitSpec::parse_opt(o.get("limitSpec"))?,
        })
    }
}

/// Runs the query.
pub fn run(query: &Query, spec: &GroupBySpec, units: &[Unit], env: Env<'_>) -> QueryResult<Value> {
    let merged = aggregate(
        query,
        &spec.dimensions,
        &spec.aggs,
        units,
        env,
        env.config.max_group_rows,
    )?;
    let universal_ms = (query.granularity == Granularity::All)
        .then(|| query.intervals().first().map(|i| i.start_ms))
        .flatten();
    let mut groups: Vec<(i64, Vec<Option<String>>, Vec<_>)> = Vec::with_capacity(merged.count);
    for (_, timestamp_ms, bucket) in merged.into_buckets() {
        let timestamp_ms = universal_ms.unwrap_or(timestamp_ms);
        groups.extend(
            bucket
                .into_iter()
                .map(|(dims, aggs)| (timestamp_ms, dims, aggs)),
        );
    }
    groups.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            for (x, y) in a.1.iter().zip(&b.1) {
                let order = StringOrdering::Lexicographic.compare_opt(x.as_deref(), y.as_deref());
                if order.is_ne() {
                    return order;
                }
            }
            std::cmp::Ordering::Equal
        })
    });
    let mut rows = Vec::with_capacity(groups.len());
    for (timestamp_ms, dims, aggs) in groups {
        let mut event = Map::new();
        for (spec_dim, value) in spec.dimensions.iter().zip(dims) {
            event.insert(
                spec_dim.output_name.clone(),
                value.map_or(Value::Null, Value::String),
            );
        }
        write_values(
            &mut event,
            &spec.aggs,
            &aggs,
            &spec.posts,
            query.context.finalize,
        )?;
        if spec
            .having
            .as_ref()
            .is_none_or(|h| h.matches(&event, timestamp_ms))
        {
            rows.push((timestamp_ms, event));
        }
    }
    if let Some(limit) = &spec.limit {
        let names: Vec<String> = spec
            .dimensions
            .iter()
            .map(|d| d.output_name.clone())
            .collect();
        limit.apply(&mut rows, &names);
    }
    if query.descending {
        rows.reverse();
    }
    Ok(Value::Array(
        rows.into_iter()
            .map(|(timestamp_ms, event)| {
                json!({"version": "v1", "timestamp": format_iso(timestamp_ms), "event": event})
            })
            .collect(),
    ))
}
