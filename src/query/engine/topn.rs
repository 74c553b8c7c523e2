//! `topN`: groups by one dimension, merges every hydrant and segment exactly (no per-segment
//! threshold pruning), then orders by the metric spec and keeps `threshold` values per bucket.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::query::agg::post::{PostAgg, PostVal, compute_all};
use crate::query::agg::value::AggValue;
use crate::query::agg::{AggSpec, write_values};
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::grouped::{aggregate, decode_key_borrowed};
use crate::query::exec::{Env, Unit};
use crate::query::filter::StringOrdering;
use crate::query::spec::json::{Obj, obj};
use crate::query::spec::{DimensionSpec, Query};
use crate::time::format_iso;

/// How topN orders values.
#[derive(Debug, Clone)]
pub enum TopNMetric {
    /// By an aggregator or post-aggregator, largest first.
    Numeric(String),
    /// The reverse of the inner order.
    Inverted(Box<TopNMetric>),
    /// By the dimension value, after `previous_stop` (exclusive).
    Dimension {
        /// The ordering.
        ordering: StringOrdering,
        /// Only values after this one.
        previous_stop: Option<String>,
    },
}

impl TopNMetric {
    fn parse(value: &Value) -> QueryResult<TopNMetric> {
        if let Value::String(name) = value {
            return Ok(TopNMetric::Numeric(name.clone()));
        }
        let o = obj(value, "topN metric")?;
        let dimension = |ordering| -> QueryResult<TopNMetric> {
            Ok(TopNMetric::Dimension {
                ordering,
                previous_stop: o.opt_text("previousStop")?,
            })
        };
        match o.type_name()? {
            "numeric" => Ok(TopNMetric::Numeric(o.str("metric")?.to_string())),
            "inverted" => Ok(TopNMetric::Inverted(Box::new(TopNMetric::parse(
                o.get("metric").ok_or_else(|| o.missing("metric"))?,
            )?))),
            "lexicographic" => dimension(StringOrdering::Lexicographic),
            "alphaNumeric" => dimension(StringOrdering::Alphanumeric),
            "dimension" => dimension(match o.opt_str("ordering")? {
                Some(name) => StringOrdering::parse(name)
                    .ok_or_else(|| QueryError::invalid(format!("unknown ordering `{name}`")))?,
                None => StringOrdering::Lexicographic,
            }),
            other => Err(QueryError::invalid(format!(
                "unknown topN metric type `{other}`"
            ))),
        }
    }

    fn previous_stop(&self) -> Option<(StringOrdering, &str, bool)> {
        match self {
            TopNMetric::Dimension {
                ordering,
                previous_stop: Some(stop),
            } => Some((*ordering, stop, false)),
            TopNMetric::Inverted(inner) => inner.previous_stop().map(|(o, s, inv)| (o, s, !inv)),
            _ => None,
        }
    }
}

/// The `topN` fields.
#[derive(Debug, Clone)]
pub struct TopNSpec {
    /// The dimension.
    pub dimension: DimensionSpec,
    /// The ordering.
    pub metric: TopNMetric,
    /// Values kept per bucket.
    pub threshold: usize,
    /// Aggregators.
    pub aggs: Vec<AggSpec>,
    /// Post-aggregators.
    pub posts: Vec<PostAgg>,
}

impl TopNSpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<TopNSpec> {
        let spec = TopNSpec {
            dimension: DimensionSpec::parse(
                o.get("dimension").ok_or_else(|| o.missing("dimension"))?,
            )?,
            metric: TopNMetric::parse(o.get("metric").ok_or_else(|| o.missing("metric"))?)?,
            threshold: o
                .opt_i64("threshold")?
                .ok_or_else(|| o.missing("threshold"))?
                .max(0) as usize,
            aggs: AggSpec::parse_list(o.get("aggregations"))?,
            posts: PostAgg::parse_list(o.get("postAggregations"))?,
        };
        if let Some(name) = numeric_name(&spec.metric) {
            let known = spec.aggs.iter().any(|a| a.name == name)
                || spec.posts.iter().any(|p| p.name() == name);
            if !known {
                return Err(QueryError::invalid(format!(
                    "topN metric `{name}` is not an aggregator or post-aggregator"
                )));
            }
        }
        Ok(spec)
    }
}

fn numeric_name(metric: &TopNMetric) -> Option<&str> {
    match metric {
        TopNMetric::Numeric(name) => Some(name),
        TopNMetric::Inverted(inner) => numeric_name(inner),
        TopNMetric::Dimension { .. } => None,
    }
}

struct Entry<'k> {
    value: Option<Cow<'k, str>>,
    aggs: &'k [AggValue],
    posts: Vec<(String, PostVal)>,
    metric: f64,
}

/// Runs the query.
pub fn run(query: &Query, spec: &TopNSpec, units: &[Unit], env: Env<'_>) -> QueryResult<Value> {
    let dims = std::slice::from_ref(&spec.dimension);
    let merged = aggregate(query, dims, &spec.aggs, units, env, usize::MAX)?;
    // Keys stay encoded: values are borrowed from them, so only the kept entries are copied.
    let mut buckets = merged.into_tables();
    if query.descending {
        buckets.reverse();
    }
    let mut out = Vec::with_capacity(buckets.len());
    for (_, table) in &buckets {
        let mut entries = Vec::with_capacity(table.len());
        for (key, aggs) in table.groups() {
            let value = decode_key_borrowed(key).last().flatten();
            if let Some((ordering, stop, inverted)) = spec.metric.previous_stop() {
                let order = ordering.compare_opt(value.as_deref(), Some(stop));
                let after = if inverted {
                    order == Ordering::Less
                } else {
                    order == Ordering::Greater
                };
                if !after {
                    continue;
                }
            }
            let posts = compute_all(&spec.posts, &spec.aggs, aggs)?;
            let metric = numeric_name(&spec.metric).map_or(0.0, |name| {
                match spec.aggs.iter().position(|a| a.name == name) {
                    Some(i) => aggs[i].as_f64(),
                    None => posts
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0.0, |(_, v)| v.as_f64()),
                }
            });
            entries.push(Entry {
                value,
                aggs,
                posts,
                metric,
            });
        }
        if entries.len() > spec.threshold && spec.threshold > 0 {
            entries.select_nth_unstable_by(spec.threshold - 1, |a, b| compare(&spec.metric, a, b));
        }
        entries.truncate(spec.threshold);
        entries.sort_by(|a, b| compare(&spec.metric, a, b));
        let mut result = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut row = Map::new();
            row.insert(
                spec.dimension.output_name.clone(),
                entry
                    .value
                    .map_or(Value::Null, |v| Value::String(v.into_owned())),
            );
            write_values(
                &mut row,
                &spec.aggs,
                entry.aggs,
                &[],
                query.context.finalize,
            )?;
            for (name, value) in &entry.posts {
                row.insert(
                    name.clone(),
                    value.to_json(&spec.aggs, query.context.finalize),
                );
            }
            result.push(Value::Object(row));
        }
        let mut bucket = Map::new();
        bucket.insert(
            "timestamp".into(),
            Value::String(format_iso(table.timestamp_ms)),
        );
        bucket.insert("result".into(), Value::Array(result));
        out.push(Value::Object(bucket));
    }
    Ok(Value::Array(out))
}

fn compare(metric: &TopNMetric, a: &Entry, b: &Entry) -> Ordering {
    let by_value =
        || StringOrdering::Lexicographic.compare_opt(a.value.as_deref(), b.value.as_deref());
    match metric {
        TopNMetric::Numeric(_) => b
            .metric
            .partial_cmp(&a.metric)
            .unwrap_or(Ordering::Equal)
            .then_with(by_value),
        TopNMetric::Dimension { ordering, .. } => {
            ordering.compare_opt(a.value.as_deref(), b.value.as_deref())
        }
        TopNMetric::Inverted(inner) => match inner.as_ref() {
            TopNMetric::Numeric(_) => a
                .metric
                .partial_cmp(&b.metric)
                .unwrap_or(Ordering::Equal)
                .then_with(by_value),
            other => compare(other, b, a),
        },
    }
}
