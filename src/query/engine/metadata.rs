//! `segmentMetadata` (per-segment column analysis, optionally merged) and `dataSourceMetadata`
//! (the latest ingested event time).

use serde_json::{Map, Value, json};

use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::view::SegmentView;
use crate::query::exec::{Env, Unit};
use crate::query::spec::Query;
use crate::query::spec::json::{Obj, obj};
use crate::segment::{Column, Segment};
use crate::time::format_iso;

/// The `segmentMetadata` fields.
#[derive(Debug, Clone)]
pub struct SegmentMetadataSpec {
    /// Columns analysed (`None`: all).
    pub to_include: Option<Vec<String>>,
    /// Merge every segment's analysis into one.
    pub merge: bool,
    /// Analyses performed.
    pub analysis_types: Vec<String>,
}

impl SegmentMetadataSpec {
    /// Parses the type-specific fields.
    pub fn parse(o: &Obj<'_>) -> QueryResult<SegmentMetadataSpec> {
        let to_include = match o.get("toInclude") {
            None => None,
            Some(value) => {
                let t = obj(value, "toInclude")?;
                match t.type_name()? {
                    "all" => None,
                    "none" => Some(Vec::new()),
                    "list" => Some(t.opt_strings("columns")?.unwrap_or_default()),
                    other => {
                        return Err(QueryError::invalid(format!(
                            "unknown toInclude type `{other}`"
                        )));
                    }
                }
            }
        };
        let analysis_types = o.opt_strings("analysisTypes")?.unwrap_or_else(|| {
            ["cardinality", "interval", "minmax"]
                .map(String::from)
                .to_vec()
        });
        Ok(SegmentMetadataSpec {
            to_include,
            merge: o.opt_bool("merge")?.unwrap_or(false),
            analysis_types,
        })
    }

    fn wants(&self, analysis: &str) -> bool {
        self.analysis_types
            .iter()
            .any(|a| a.eq_ignore_ascii_case(analysis))
    }
}

/// Runs `segmentMetadata`.
pub fn run_segment_metadata(
    _query: &Query,
    spec: &SegmentMetadataSpec,
    units: &[Unit],
    env: Env<'_>,
) -> QueryResult<Value> {
    let mut analyses = Vec::new();
    for unit in units {
        let mut columns = Map::new();
        let (mut rows, mut size) = (0u64, 0u64);
        let mut aggregators: Option<Map<String, Value>> = None;
        let mut granularity = Value::Null;
        for hydrant in &unit.segment.hydrants {
            env.cancel.check()?;
            rows += hydrant.num_rows() as u64;
            size += hydrant
                .column_names()
                .iter()
                .filter_map(|c| hydrant.column_size_bytes(c))
                .sum::<u64>();
            analyse_columns(spec, hydrant, env, &mut columns)?;
            if let Some(metadata) = hydrant.metadata() {
                if let Some(aggs) = &metadata.aggregators {
                    let map = aggregators.get_or_insert_with(Map::new);
                    for agg in aggs {
                        if let Some(name) = agg.get("name").and_then(Value::as_str) {
                            map.insert(name.to_string(), agg.clone());
                        }
                    }
                }
                if let Some(g) = &metadata.query_granularity {
                    granularity = g.to_json();
                }
            }
        }
        let mut analysis = Map::new();
        analysis.insert("id".into(), Value::String(unit.segment.identifier.clone()));
        analysis.insert(
            "intervals".into(),
            if spec.wants("interval") {
                json!([unit.segment.interval.to_string()])
            } else {
                Value::Null
            },
        );
        analysis.insert("columns".into(), Value::Object(columns));
        analysis.insert(
            "size".into(),
            Value::from(if spec.wants("size") { size } else { 0 }),
        );
        analysis.insert("numRows".into(), Value::from(rows));
        analysis.insert(
            "aggregators".into(),
            if spec.wants("aggregators") {
                aggregators.map_or(Value::Null, Value::Object)
            } else {
                Value::Null
            },
        );
        analysis.insert("timestampSpec".into(), Value::Null);
        analysis.insert(
            "queryGranularity".into(),
            if spec.wants("queryGranularity") {
                granularity
            } else {
                Value::Null
            },
        );
        analysis.insert("rollup".into(), Value::Null);
        analyses.push(analysis);
    }
    if spec.merge && analyses.len() > 1 {
        let mut merged = analyses.remove(0);
        for other in analyses.drain(..) {
            merge_analysis(&mut merged, other);
        }
        merged.insert("id".into(), Value::String("merged".into()));
        analyses.push(merged);
    }
    Ok(Value::Array(
        analyses.into_iter().map(Value::Object).collect(),
    ))
}

fn analyse_columns(
    spec: &SegmentMetadataSpec,
    segment: &Segment,
    env: Env<'_>,
    out: &mut Map<String, Value>,
) -> QueryResult<()> {
    let mut view = SegmentView::for_query(segment, env);
    let names = std::iter::once("__time".to_string()).chain(segment.column_names().iter().cloned());
    for name in names {
        if spec
            .to_include
            .as_ref()
            .is_some_and(|list| !list.contains(&name))
        {
            continue;
        }
        let Some(column) = view.column(&name)? else {
            continue;
        };
        let size = if spec.wants("size") {
            segment.column_size_bytes(&name).unwrap_or(0)
        } else {
            0
        };
        let (kind, multi, cardinality, min, max) = match &column {
            Column::Long(_) => (
                "LONG".to_string(),
                false,
                Value::Null,
                Value::Null,
                Value::Null,
            ),
            Column::Float(_) => (
                "FLOAT".to_string(),
                false,
                Value::Null,
                Value::Null,
                Value::Null,
            ),
            Column::Double(_) => (
                "DOUBLE".to_string(),
                false,
                Value::Null,
                Value::Null,
                Value::Null,
            ),
            Column::Complex(c) => (
                c.type_name().to_string(),
                false,
                Value::Null,
                Value::Null,
                Value::Null,
            ),
            Column::String(c) => {
                let dictionary = c.dictionary();
                let cardinality = if spec.wants("cardinality") {
                    Value::from(dictionary.len())
                } else {
                    Value::Null
                };
                let (mut min, mut max) = (Value::Null, Value::Null);
                if spec.wants("minmax") && !dictionary.is_empty() {
                    let first =
                        (0..dictionary.len()).find_map(|id| dictionary.get(id).ok().flatten());
                    min = first.map_or(Value::Null, |v| Value::String(v.to_string()));
                    max = dictionary
                        .get(dictionary.len() - 1)?
                        .map_or(Value::Null, |v| Value::String(v.to_string()));
                }
                (
                    "STRING".to_string(),
                    c.is_multi_value(),
                    cardinality,
                    min,
                    max,
                )
            }
        };
        let analysis = json!({
            "type": kind, "hasMultipleValues": multi, "size": size, "cardinality": cardinality,
            "minValue": min, "maxValue": max, "errorMessage": null
        });
        match out.get_mut(&name) {
            Some(existing) => fold_column(existing, &analysis),
            None => {
                out.insert(name, analysis);
            }
        }
    }
    Ok(())
}

fn fold_column(into: &mut Value, other: &Value) {
    let Some(map) = into.as_object_mut() else {
        return;
    };
    if map.get("type") != other.get("type") {
        map.insert(
            "errorMessage".into(),
            Value::String("error:cannot_merge_diff_types".into()),
        );
        return;
    }
    let pick = |a: Option<&Value>, b: Option<&Value>, greater: bool| -> Value {
        match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
            (Some(x), Some(y)) => {
                let take_y = if greater { y > x } else { y < x };
                Value::String(if take_y { y } else { x }.to_string())
            }
            (Some(x), None) => Value::String(x.to_string()),
            (None, Some(y)) => Value::String(y.to_string()),
            (None, None) => a
                .and_then(Value::as_u64)
                .max(b.and_then(Value::as_u64))
                .map_or(Value::Null, Value::from),
        }
    };
    let min = pick(map.get("minValue"), other.get("minValue"), false);
    let max = pick(map.get("maxValue"), other.get("maxValue"), true);
    let cardinality = pick(map.get("cardinality"), other.get("cardinality"), true);
    let size = map.get("size").and_then(Value::as_u64).unwrap_or(0)
        + other.get("size").and_then(Value::as_u64).unwrap_or(0);
    let multi = map
        .get("hasMultipleValues")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || other
            .get("hasMultipleValues")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    map.insert("minValue".into(), min);
    map.insert("maxValue".into(), max);
    map.insert("cardinality".into(), cardinality);
    map.insert("size".into(), Value::from(size));
    map.insert("hasMultipleValues".into(), Value::Bool(multi));
}

fn merge_analysis(into: &mut Map<String, Value>, other: Map<String, Value>) {
    let sum = |a: Option<&Value>, b: Option<&Value>| {
        a.and_then(Value::as_u64).unwrap_or(0) + b.and_then(Value::as_u64).unwrap_or(0)
    };
    let rows = sum(into.get("numRows"), other.get("numRows"));
    let size = sum(into.get("size"), other.get("size"));
    into.insert("numRows".into(), Value::from(rows));
    into.insert("size".into(), Value::from(size));
    if let (Some(Value::Array(a)), Some(Value::Array(b))) =
        (into.get_mut("intervals"), other.get("intervals"))
    {
        a.extend(b.iter().cloned());
    }
    if let (Some(Value::Object(a)), Some(Value::Object(b))) =
        (into.get_mut("columns"), other.get("columns"))
    {
        for (name, analysis) in b {
            match a.get_mut(name) {
                Some(existing) => fold_column(existing, analysis),
                None => {
                    a.insert(name.clone(), analysis.clone());
                }
            }
        }
    }
    if let (Some(Value::Object(a)), Some(Value::Object(b))) =
        (into.get_mut("aggregators"), other.get("aggregators"))
    {
        for (name, agg) in b {
            a.entry(name.clone()).or_insert_with(|| agg.clone());
        }
    }
}

/// Runs `dataSourceMetadata`.
pub fn run_data_source_metadata(
    _query: &Query,
    units: &[Unit],
    env: Env<'_>,
) -> QueryResult<Value> {
    let mut latest: Option<(i64, i64)> = None;
    for unit in units {
        for hydrant in &unit.segment.hydrants {
            let view = SegmentView::for_query(hydrant, env);
            if let Some((_, max_ms)) = view.time_range()?
                && latest.is_none_or(|(m, _)| max_ms > m)
            {
                latest = Some((max_ms, unit.segment.interval.start_ms));
            }
        }
    }
    Ok(Value::Array(match latest {
        None => Vec::new(),
        Some((max_ms, start_ms)) => vec![json!({
            "timestamp": format_iso(start_ms),
            "result": {"maxIngestedEventTime": format_iso(max_ms)}
        })],
    }))
}
