//! Query-time aggregator specs: every ingest aggregator plus `filtered`, `cardinality`,
//! `hyperUnique` and `stringFirst`/`stringLast`. Extension aggregators (sketches, histograms,
//! javascript) are refused with an error naming them.

use serde_json::Value;

use crate::query::error::{QueryError, QueryResult};
use crate::query::filter::Filter;
use crate::query::spec::DimensionSpec;
use crate::query::spec::json::obj;

/// Numeric storage of an aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumType {
    /// 64-bit integers.
    Long,
    /// 64-bit floats.
    Double,
    /// 32-bit floats.
    Float,
}

/// How a numeric aggregator folds values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    /// Sum.
    Sum,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Value of the earliest row.
    First,
    /// Value of the latest row.
    Last,
}

/// What an aggregator computes.
#[derive(Debug, Clone)]
pub enum AggKind {
    /// Rows.
    Count,
    /// A numeric fold of `fieldName`.
    Numeric(NumType, NumOp),
    /// First or last string of `fieldName` (`last` when true), truncated to `max_bytes`.
    StringFirstLast {
        /// Last instead of first.
        last: bool,
        /// Maximum UTF-8 bytes kept.
        max_bytes: usize,
    },
    /// HyperLogLog union of a hyperUnique column.
    HyperUnique {
        /// Round the estimate to a long.
        round: bool,
    },
    /// HyperLogLog of dimension values (or of whole rows when `by_row`).
    Cardinality {
        /// The dimensions hashed.
        fields: Vec<DimensionSpec>,
        /// Hash rows (value combinations) instead of values.
        by_row: bool,
        /// Round the estimate to a long.
        round: bool,
    },
}

/// One aggregator of a query.
#[derive(Debug, Clone)]
pub struct AggSpec {
    /// Output name.
    pub name: String,
    /// Input column.
    pub field: Option<String>,
    /// What it computes.
    pub kind: AggKind,
    /// Only rows matching this filter (`filtered` aggregator).
    pub filter: Option<Filter>,
}

/// Aggregator types of Druid extensions, with the extension that provides them.
const EXTENSION_TYPES: &[(&str, &str)] = &[
    ("thetaSketch", "druid-datasketches"),
    ("quantilesDoublesSketch", "druid-datasketches"),
    ("HLLSketchBuild", "druid-datasketches"),
    ("HLLSketchMerge", "druid-datasketches"),
    ("arrayOfDoublesSketch", "druid-datasketches"),
    ("approxHistogram", "druid-histogram"),
    ("approxHistogramFold", "druid-histogram"),
    ("fixedBucketsHistogram", "druid-histogram"),
    ("momentSketch", "druid-momentsketch"),
    ("bloom", "druid-bloom-filter"),
    ("variance", "druid-stats"),
    ("varianceFold", "druid-stats"),
];

impl AggSpec {
    /// Parses a list of aggregators; output names must be distinct.
    pub fn parse_list(value: Option<&Value>) -> QueryResult<Vec<AggSpec>> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(QueryError::invalid("aggregations must be a list"));
        };
        let specs = items
            .iter()
            .map(AggSpec::parse)
            .collect::<QueryResult<Vec<_>>>()?;
        for (i, spec) in specs.iter().enumerate() {
            if specs[..i].iter().any(|s| s.name == spec.name) {
                return Err(QueryError::invalid(format!(
                    "duplicate aggregator name `{}`",
                    spec.name
                )));
            }
        }
        Ok(specs)
    }

    /// Parses one aggregator.
    pub fn parse(value: &Value) -> QueryResult<AggSpec> {
        let o = obj(value, "aggregator")?;
        let kind_name = o.type_name()?;
        if kind_name == "filtered" {
            let inner =
                AggSpec::parse(o.get("aggregator").ok_or_else(|| o.missing("aggregator"))?)?;
            let filter = Filter::parse(o.get("filter").ok_or_else(|| o.missing("filter"))?)?;
            let filter = match inner.filter {
                Some(existing) => Filter::And(vec![existing, filter]),
                None => filter,
            };
            return Ok(AggSpec {
                name: o.opt_str("name")?.map_or(inner.name, str::to_string),
                filter: Some(filter),
                ..inner
            });
        }
        if let Some((_, extension)) = EXTENSION_TYPES.iter().find(|(t, _)| *t == kind_name) {
            return Err(QueryError::unsupported(format!(
                "aggregator type `{kind_name}` is not supported: it needs the Druid extension \
                 `{extension}`, which this node does not implement"
            )));
        }
        let name = o.str("name")?.to_string();
        if o.get("expression").is_some_and(|e| !e.is_null()) {
            return Err(QueryError::invalid(format!(
                "aggregator `{name}`: `expression` must be a string"
            )));
        }
        let field = o.opt_str("fieldName")?.map(str::to_string);
        let kind = parse_kind(kind_name, &o)?;
        let needs_field = !matches!(kind, AggKind::Count | AggKind::Cardinality { .. });
        if needs_field && field.is_none() {
            return Err(o.missing("fieldName"));
        }
        Ok(AggSpec {
            name,
            field,
            kind,
            filter: None,
        })
    }
}

/// Parses the kind of a non-`filtered`, non-extension aggregator.
fn parse_kind(kind_name: &str, o: &crate::query::spec::json::Obj<'_>) -> QueryResult<AggKind> {
    let numeric = |t, op| AggKind::Numeric(t, op);
    use {NumOp::*, NumType::*};
    Ok(match kind_name {
        "count" => AggKind::Count,
        "longSum" => numeric(Long, Sum),
        "longMin" => numeric(Long, Min),
        "longMax" => numeric(Long, Max),
        "doubleSum" => numeric(Double, Sum),
        "doubleMin" | "min" => numeric(Double, Min),
        "doubleMax" | "max" => numeric(Double, Max),
        "floatSum" => numeric(Float, Sum),
        "floatMin" => numeric(Float, Min),
        "floatMax" => numeric(Float, Max),
        "longFirst" => numeric(Long, First),
        "longLast" => numeric(Long, Last),
        "doubleFirst" => numeric(Double, First),
        "doubleLast" => numeric(Double, Last),
        "floatFirst" => numeric(Float, First),
        "floatLast" => numeric(Float, Last),
        "stringFirst" | "stringLast" | "stringFirstFold" | "stringLastFold" => {
            AggKind::StringFirstLast {
                last: kind_name.starts_with("stringLast"),
                max_bytes: o
                    .opt_i64("maxStringBytes")?
                    .unwrap_or(1024)
                    .clamp(1, 1 << 20) as usize,
            }
        }
        "hyperUnique" => AggKind::HyperUnique {
            round: o.opt_bool("round")?.unwrap_or(false),
        },
        "cardinality" => AggKind::Cardinality {
            fields: o
                .opt_array("fields")?
                .or(o.opt_array("fieldNames")?)
                .ok_or_else(|| o.missing("fields"))?
                .iter()
                .map(DimensionSpec::parse)
                .collect::<QueryResult<Vec<_>>>()?,
            by_row: o.opt_bool("byRow")?.unwrap_or(false),
            round: o.opt_bool("round")?.unwrap_or(false),
        },
        "javascript" => {
            return Err(QueryError::unsupported(
                "aggregator type `javascript` is not supported (JavaScript is disabled)",
            ));
        }
        other => {
            return Err(QueryError::unsupported(format!(
                "unknown or unsupported aggregator type `{other}`"
            )));
        }
    })
}
