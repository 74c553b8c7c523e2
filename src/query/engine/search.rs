//! `search`: dimension values matching a search spec, with the number of (filtered) rows holding
//! each, found through the dictionaries and bitmap indexes.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use serde_json::{Map, Value, json};

use crate::index::granularity::Granularity;
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::view::SegmentView;
use crate::query::exec::{Env, Unit};
use crate::query::filter::StringOrdering;
use crate::query::filter::eval::evaluate;
use crate::query::spec::json::{Obj, obj};
use crate::query::spec::{DimensionSpec, Query, SearchSpec};
use crate::segment::Column;
use crate::time::format_iso;

/// The `search` fields.
#[derive(Debug, Clone)]
pub struct SearchQuerySpec {
    /// Dimensions searched (all when empty).
    pub dimensions: Vec<DimensionSpec>,
    /// The test.
    pub query: SearchSpec,
    /// Results kept per bucket.
    pub limit: usize,
    /// Result order.
    pub sort: StringOrdering,
}

impl SearchQuerySpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<SearchQuerySpec> {
        let sort = match o.get("sort") {
            None => StringOrdering::Lexicographic,
            Some(value) => {
                let s = obj(value, "search sort")?;
                let name = s.type_name()?;
                StringOrdering::parse(name)
                    .ok_or_else(|| QueryError::invalid(format!("unknown search sort `{name}`")))?
            }
        };
        Ok(SearchQuerySpec {
            dimensions: DimensionSpec::parse_list(o.get("searchDimensions"))?,
            query: SearchSpec::parse(o.get("query").ok_or_else(|| o.missing("query"))?)?,
            limit: o.opt_i64("limit")?.unwrap_or(1000).max(0) as usize,
            sort,
        })
    }
}

type Counts = HashMap<(String, String), i64>;

/// Runs the query.
pub fn run(
    query: &Query,
    spec: &SearchQuerySpec,
    units: &[Unit],
    env: Env<'_>,
) -> QueryResult<Value> {
    let mut buckets: HashMap<i64, (i64, Counts)> = HashMap::new();
    for unit in units {
        let start_ms = unit.segment.interval.start_ms;
        let (key, timestamp) = match &query.granularity {
            Granularity::All => (i64::MIN, start_ms),
            g => (g.truncate(start_ms), g.truncate(start_ms)),
        };
        let entry = buckets
            .entry(key)
            .or_insert_with(|| (timestamp, Counts::new()));
        entry.0 = entry.0.min(timestamp);
        for hydrant in &unit.segment.hydrants {
            let mut view = SegmentView::for_query(hydrant, env);
            search_segment(query, spec, &unit.intervals, &mut view, &mut entry.1)?;
        }
    }
    let mut keys: Vec<_> = buckets.into_iter().collect();
    keys.sort_by_key(|(k, _)| *k);
    let mut out = Vec::new();
    for (_, (timestamp_ms, counts)) in keys {
        let mut hits: Vec<_> = counts.into_iter().collect();
        hits.sort_by(|((da, va), _), ((db, vb), _)| {
            spec.sort.compare(va, vb).then_with(|| da.cmp(db))
        });
        hits.truncate(spec.limit);
        let result: Vec<Value> = hits
            .into_iter()
            .map(|((dimension, value), count)| json!({"dimension": dimension, "value": value, "count": count}))
            .collect();
        let mut row = Map::new();
        row.insert("timestamp".into(), Value::String(format_iso(timestamp_ms)));
        row.insert("result".into(), Value::Array(result));
        out.push(Value::Object(row));
    }
    Ok(Value::Array(out))
}

fn search_segment(
    query: &Query,
    spec: &SearchQuerySpec,
    intervals: &[crate::time::Interval],
    view: &mut SegmentView<'_>,
    counts: &mut Counts,
) -> QueryResult<()> {
    let mut rows = RoaringBitmap::new();
    for interval in intervals {
        rows.insert_range(view.rows_in(interval)?);
    }
    if let Some(filter) = &query.filter
        && let Some(bits) = evaluate(filter, view)?
    {
        rows &= bits;
    }
    if rows.is_empty() {
        return Ok(());
    }
    let dims: Vec<DimensionSpec> = if spec.dimensions.is_empty() {
        view.segment
            .dimension_names()
            .iter()
            .map(|d| DimensionSpec::plain(d))
            .collect()
    } else {
        spec.dimensions.clone()
    };
    for dim in dims {
        view.cancel.check()?;
        let Some(Column::String(col)) = view.column(&dim.dimension)? else {
            continue;
        };
        let dictionary = col.dictionary();
        let mut per_value: HashMap<String, RoaringBitmap> = HashMap::new();
        for id in 0..dictionary.len() {
            let value = dictionary.get(id)?;
            let value = match &dim.extraction {
                Some(f) => f.apply(value),
                None => value.map(str::to_string),
            };
            let Some(value) = value.filter(|v| spec.query.matches(Some(v))) else {
                continue;
            };
            let bits = col.bitmap(id)?;
            *per_value.entry(value).or_default() |= bits;
        }
        for (value, bits) in per_value {
            let count = bits.intersection_len(&rows) as i64;
            if count > 0 {
                *counts.entry((dim.output_name.clone(), value)).or_default() += count;
            }
        }
    }
    Ok(())
}
