//! Fields every query has: `dataSource`, `intervals` (or a segment spec), `granularity` and
//! `context`.

use serde_json::Value;

use super::json::{Obj, obj, short};
use crate::index::granularity::Granularity;
use crate::query::error::{QueryError, QueryResult};
use crate::time::{ETERNITY, Interval};

/// Where a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// One table.
    Table(String),
    /// Several tables read as one (`{"type":"union"}`).
    Union(Vec<String>),
}

impl DataSource {
    /// Returns the table names, in query order.
    pub fn names(&self) -> Vec<String> {
        match self {
            DataSource::Table(name) => vec![name.clone()],
            DataSource::Union(names) => names.clone(),
        }
    }

    /// Returns the name used in metric labels (the first table).
    pub fn label(&self) -> String {
        match self {
            DataSource::Table(name) => name.clone(),
            DataSource::Union(names) => names.join(","),
        }
    }

    /// Parses a string, `{"type":"table"}` or `{"type":"union"}`; refuses joins, inline, lookup
    /// and query datasources.
    pub fn parse(value: &Value) -> QueryResult<DataSource> {
        match value {
            Value::String(name) => Ok(DataSource::Table(name.clone())),
            Value::Object(_) => {
                let o = obj(value, "dataSource")?;
                match o.type_name()? {
                    "table" => Ok(DataSource::Table(o.str("name")?.to_string())),
                    "union" => {
                        let mut names = Vec::new();
                        for item in o.array("dataSources")? {
                            match DataSource::parse(item)? {
                                DataSource::Table(name) => names.push(name),
                                DataSource::Union(_) => {
                                    return Err(QueryError::invalid(
                                        "a union datasource cannot contain a union",
                                    ));
                                }
                            }
                        }
                        Ok(DataSource::Union(names))
                    }
                    kind @ ("join" | "inline" | "lookup" | "query") => {
                        Err(QueryError::unsupported(format!(
                            "datasource type `{kind}` is not supported by this realtime node \
                             (only `table` and `union`); run joins and subqueries on a broker"
                        )))
                    }
                    other => Err(QueryError::invalid(format!(
                        "unknown datasource type `{other}`"
                    ))),
                }
            }
            other => Err(QueryError::invalid(format!(
                "dataSource must be a string or an object, got `{}`",
                short(other)
            ))),
        }
    }
}

/// One explicitly requested segment (`{"itvl","ver","part"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDescriptor {
    /// The part of the segment to read.
    pub interval: Interval,
    /// The segment version.
    pub version: String,
    /// The partition number.
    pub partition: u32,
}

/// Which data a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentSpec {
    /// Every segment overlapping these intervals (sorted, non-overlapping).
    Intervals(Vec<Interval>),
    /// Exactly these segments, as a broker sends them.
    Segments(Vec<SegmentDescriptor>),
}

impl SegmentSpec {
    /// Returns the intervals the query reads.
    pub fn intervals(&self) -> Vec<Interval> {
        match self {
            SegmentSpec::Intervals(intervals) => intervals.clone(),
            SegmentSpec::Segments(segments) => {
                condense(segments.iter().map(|s| s.interval).collect())
            }
        }
    }

    /// Parses `intervals`: a string, a list of strings, or a `intervals`/`segments` object;
    /// absent means eternity.
    pub fn parse(value: Option<&Value>) -> QueryResult<SegmentSpec> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(SegmentSpec::Intervals(vec![ETERNITY]));
        };
        match value {
            Value::String(text) => Ok(SegmentSpec::Intervals(vec![parse_interval(text)?])),
            Value::Array(items) => parse_interval_list(items).map(SegmentSpec::Intervals),
            Value::Object(_) => {
                let o = obj(value, "intervals")?;
                match o.type_name()? {
                    "intervals" => {
                        parse_interval_list(o.array("intervals")?).map(SegmentSpec::Intervals)
                    }
                    "segments" => o
                        .array("segments")?
                        .iter()
                        .map(parse_descriptor)
                        .collect::<QueryResult<Vec<_>>>()
                        .map(SegmentSpec::Segments),
                    other => Err(QueryError::invalid(format!(
                        "unknown intervals type `{other}` (expected `intervals` or `segments`)"
                    ))),
                }
            }
            other => Err(QueryError::invalid(format!(
                "intervals must be a string, a list or an object, got `{}`",
                short(other)
            ))),
        }
    }
}

fn parse_descriptor(value: &Value) -> QueryResult<SegmentDescriptor> {
    let o = obj(value, "segment descriptor")?;
    Ok(SegmentDescriptor {
        interval: parse_interval(o.str("itvl")?)?,
        version: o.opt_text("ver")?.unwrap_or_default(),
        partition: o.opt_i64("part")?.unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
    })
}

/// Parses one ISO interval (`start/end`, `start/period`, `period/end`; periods in any case).
pub fn parse_interval(text: &str) -> QueryResult<Interval> {
    Interval::parse_in(text, None)
        .map_err(|e| QueryError::invalid(format!("invalid interval `{text}`: {e}")))
}

fn parse_interval_list(items: &[Value]) -> QueryResult<Vec<Interval>> {
    let mut intervals = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(text) => intervals.push(parse_interval(text)?),
            other => {
                return Err(QueryError::invalid(format!(
                    "intervals must be strings, got `{}`",
                    short(other)
                )));
            }
        }
    }
    Ok(condense(intervals))
}

/// Sorts intervals and joins overlapping or abutting ones (Druid's `JodaUtils.condenseIntervals`).
pub fn condense(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match out.last_mut() {
            Some(last) if interval.start_ms <= last.end_ms => {
                last.end_ms = last.end_ms.max(interval.end_ms);
            }
            _ => out.push(interval),
        }
    }
    out
}

/// Parses a `granularity` field (absent means `all`).
pub fn parse_granularity(o: &Obj<'_>) -> QueryResult<Granularity> {
    match o.get("granularity") {
        None => Ok(Granularity::All),
        Some(value) => Granularity::from_json(value)
            .map_err(|e| QueryError::invalid(format!("invalid granularity: {e}"))),
    }
}

/// The `context` of a query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryContext {
    /// The query id (generated when absent).
    pub query_id: Option<String>,
    /// Milliseconds the query may run; `None` uses the server default, 0 means no limit.
    pub timeout_ms: Option<u64>,
    /// False to return intermediate aggregator values (what a broker asks for).
    pub finalize: bool,
    /// True to wrap results per segment.
    pub by_segment: bool,
    /// Timeseries: leave out empty buckets.
    pub skip_empty_buckets: bool,
    /// The raw context, echoed where Druid echoes it.
    pub raw: serde_json::Map<String, Value>,
}

impl QueryContext {
    /// Parses `context` (absent means defaults).
    pub fn parse(value: Option<&Value>) -> QueryResult<QueryContext> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(QueryContext {
                finalize: true,
                ..QueryContext::default()
            });
        };
        let o = obj(value, "context")?;
        let timeout_ms = o.opt_i64("timeout")?;
        if timeout_ms.is_some_and(|t| t < 0) {
            return Err(QueryError::invalid(
                "context `timeout` must not be negative",
            ));
        }
        Ok(QueryContext {
            query_id: o.opt_text("queryId")?,
            timeout_ms: timeout_ms.map(|t| t as u64),
            finalize: o.opt_bool("finalize")?.unwrap_or(true),
            by_segment: o.opt_bool("bySegment")?.unwrap_or(false),
            skip_empty_buckets: o.opt_bool("skipEmptyBuckets")?.unwrap_or(false),
            raw: o.map.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn intervals_accept_strings_lists_lowercase_periods_and_segment_specs() {
        let day = Interval::new(1_441_929_600_000, 1_442_016_000_000);
        let one = SegmentSpec::parse(Some(&json!("2015-09-11/p1d"))).unwrap();
        assert_eq!(one, SegmentSpec::Intervals(vec![day]));
        let list = SegmentSpec::parse(Some(&json!(["2015-09-11T12:00/PT12H", "2015-09-11/PT12H"])))
            .unwrap();
        assert_eq!(
            list,
            SegmentSpec::Intervals(vec![day]),
            "abutting intervals condense"
        );
        let segments = SegmentSpec::parse(Some(&json!({"type": "segments",
            "segments": [{"itvl": "2015-09-11/2015-09-12", "ver": "v1", "part": 2}]})))
        .unwrap();
        assert_eq!(segments.intervals(), vec![day]);
        assert_eq!(
            SegmentSpec::parse(None).unwrap(),
            SegmentSpec::Intervals(vec![ETERNITY])
        );
        assert!(SegmentSpec::parse(Some(&json!("yesterday"))).is_err());
    }

    #[test]
    fn data_sources_parse_tables_unions_and_refuse_joins() {
        assert_eq!(
            DataSource::parse(&json!("a")).unwrap(),
            DataSource::Table("a".into())
        );
        assert_eq!(
            DataSource::parse(&json!({"type": "table", "name": "a"})).unwrap(),
            DataSource::Table("a".into())
        );
        let union = json!({"type": "union", "dataSources": ["a", {"type": "table", "name": "b"}]});
        assert_eq!(DataSource::parse(&union).unwrap().names(), ["a", "b"]);
        let join = DataSource::parse(&json!({"type": "join", "left": "a"})).unwrap_err();
        assert!(matches!(join, QueryError::Unsupported(m) if m.contains("`join`")));
    }

    #[test]
    fn context_defaults_to_finalized_results() {
        let context = QueryContext::parse(None).unwrap();
        assert!(context.finalize && !context.by_segment && context.timeout_ms.is_none());
        let broker = QueryContext::parse(Some(&json!({"finalize": false, "timeout": "500",
            "queryId": "q", "bySegment": true})))
        .unwrap();
        assert!(!broker.finalize && broker.by_segment);
        assert_eq!(
            (broker.timeout_ms, broker.query_id.as_deref()),
            (Some(500), Some("q"))
        );
    }
}
