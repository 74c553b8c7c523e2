//! `metricsSpec`: the ingest-time aggregators of a datasource.
//!
//! Every aggregator Druid's realtime node ran at ingest: `count`, the sums, mins and maxes over
//! longs, doubles and floats (with Druid's legacy `min` / `max` names for the double forms),
//! first/last, `hyperUnique`, and `filtered` around any of them but first/last (its filter, in
//! Druid's filter JSON, decides which events it aggregates). `cardinality` is a query-time
//! aggregator and is refused here.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::de;
use crate::query::filter::Filter;

/// The value type an aggregator stores in a segment column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// 64-bit integer column.
    Long,
    /// 32-bit float column.
    Float,
    /// 64-bit double column.
    Double,
    /// Druid HyperLogLog collector (complex `hyperUnique`).
    HyperUnique,
}

/// What an aggregator does with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregatorKind {
    /// Counts rows.
    Count,
    /// Sum of longs.
    LongSum,
    /// Minimum of longs.
    LongMin,
    /// Maximum of longs.
    LongMax,
    /// Sum of doubles.
    DoubleSum,
    /// Minimum of doubles.
    DoubleMin,
    /// Maximum of doubles.
    DoubleMax,
    /// Sum of floats.
    FloatSum,
    /// Minimum of floats.
    FloatMin,
    /// Maximum of floats.
    FloatMax,
    /// Long value of the earliest row.
    LongFirst,
    /// Long value of the latest row.
    LongLast,
    /// Double value of the earliest row.
    DoubleFirst,
    /// Double value of the latest row.
    DoubleLast,
    /// Float value of the earliest row.
    FloatFirst,
    /// Float value of the latest row.
    FloatLast,
    /// HyperLogLog sketch of distinct input values.
    HyperUnique,
}

const SUPPORTED: &[&str] = &[
    "count",
    "longSum",
    "longMin",
    "longMax",
    "doubleSum",
    "doubleMin",
    "doubleMax",
    "floatSum",
    "floatMin",
    "floatMax",
    "longFirst",
    "longLast",
    "doubleFirst",
    "doubleLast",
    "floatFirst",
    "floatLast",
    "hyperUnique",
    "min",
    "max",
    "filtered",
];

/// Every kind with its Druid type name.
const KINDS: &[(AggregatorKind, &str)] = &[
    (AggregatorKind::Count, "count"),
    (AggregatorKind::LongSum, "longSum"),
    (AggregatorKind::LongMin, "longMin"),
    (AggregatorKind::LongMax, "longMax"),
    (AggregatorKind::DoubleSum, "doubleSum"),
    (AggregatorKind::DoubleMin, "doubleMin"),
    (AggregatorKind::DoubleMax, "doubleMax"),
    (AggregatorKind::FloatSum, "floatSum"),
    (AggregatorKind::FloatMin, "floatMin"),
    (AggregatorKind::FloatMax, "floatMax"),
    (AggregatorKind::LongFirst, "longFirst"),
    (AggregatorKind::LongLast, "longLast"),
    (AggregatorKind::DoubleFirst, "doubleFirst"),
    (AggregatorKind::DoubleLast, "doubleLast"),
    (AggregatorKind::FloatFirst, "floatFirst"),
    (AggregatorKind::FloatLast, "floatLast"),
    (AggregatorKind::HyperUnique, "hyperUnique"),
];

impl AggregatorKind {
    /// The Druid type name.
    pub fn type_name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("count")
    }

    /// Looks up a Druid type name, including the legacy `min` / `max` (double) names.
    pub fn from_type_name(name: &str) -> Option<AggregatorKind> {
        match name {
            "min" => Some(AggregatorKind::DoubleMin),
            "max" => Some(AggregatorKind::DoubleMax),
            other => KINDS.iter().find(|(_, n)| *n == other).map(|(k, _)| *k),
        }
    }

    /// True for `longFirst` … `floatLast`.
    pub fn is_first_or_last(self) -> bool {
        use AggregatorKind::*;
        matches!(
            self,
            LongFirst | LongLast | DoubleFirst | DoubleLast | FloatFirst | FloatLast
        )
    }

    /// True for the simple numeric aggregators, which Druid ≥ 0.13 writes with `"expression":null`.
    pub fn has_expression(self) -> bool {
        use AggregatorKind::*;
        matches!(
            self,
            LongSum
                | LongMin
                | LongMax
                | DoubleSum
                | DoubleMin
                | DoubleMax
                | FloatSum
                | FloatMin
                | FloatMax
        )
    }

    /// The column type the aggregated value is stored as.
    pub fn metric_type(self) -> MetricType {
        use AggregatorKind::*;
        match self {
            Count | LongSum | LongMin | LongMax | LongFirst | LongLast => MetricType::Long,
            DoubleSum | DoubleMin | DoubleMax | DoubleFirst | DoubleLast => MetricType::Double,
            FloatSum | FloatMin | FloatMax | FloatFirst | FloatLast => MetricType::Float,
            HyperUnique => MetricType::HyperUnique,
        }
    }

    /// The aggregator that combines already-aggregated values of this one (`count` → `longSum`).
    pub fn combining(self) -> AggregatorKind {
        match self {
            AggregatorKind::Count => AggregatorKind::LongSum,
            other => other,
        }
    }
}

/// One aggregator of `metricsSpec`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorSpec {
    /// What it computes.
    pub kind: AggregatorKind,
    /// Output column name.
    pub name: String,
    /// Input field (`None` only for `count`).
    pub field_name: Option<String>,
    /// `hyperUnique` only: the input is already a serialized collector.
    pub is_input_hyper_unique: bool,
    /// `hyperUnique` only: round the estimate at query time.
    pub round: bool,
    /// Set when this is a `filtered` aggregator: the fields above are its delegate's, and
    /// events the filter rejects leave it unchanged.
    pub filter: Option<AggregatorFilter>,
}

/// A filter given in the spec (a `filtered` aggregator's, the `transformSpec`'s): Druid's JSON,
/// and the filter parsed from it at load.
#[derive(Debug, Clone)]
pub struct AggregatorFilter {
    /// The filter JSON as the spec gave it.
    pub json: Value,
    /// The parsed filter.
    pub filter: Arc<Filter>,
}

impl AggregatorFilter {
    /// Parses Druid's filter JSON (the query filter parser, once, at load).
    pub fn parse(json: Value) -> Result<AggregatorFilter, String> {
        let filter = Filter::parse(&json).map_err(|e| e.to_string())?;
        Ok(AggregatorFilter {
            json,
            filter: Arc::new(filter),
        })
    }
}

impl PartialEq for AggregatorFilter {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

/// Reads a filter (`transformSpec.filter`): Druid's filter JSON, parsed once.
pub(super) fn deserialize_filter<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AggregatorFilter>, D::Error> {
    let json = Value::deserialize(deserializer)?;
    if json.is_null() {
        return Ok(None);
    }
    AggregatorFilter::parse(json)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Writes a filter back as the JSON it was read from.
pub(super) fn serialize_filter<S: serde::Serializer>(
    filter: &Option<AggregatorFilter>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    filter.as_ref().map(|f| &f.json).serialize(serializer)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFiltered {
    filter: Value,
    aggregator: AggregatorSpec,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCount {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawField {
    name: String,
    field_name: String,
    #[serde(default)]
    expression: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHyperUnique {
    name: String,
    field_name: String,
    #[serde(default)]
    is_input_hyper_unique: bool,
    #[serde(default)]
    round: bool,
}

impl<'de> Deserialize<'de> for AggregatorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de::tagged(
            deserializer,
            "aggregator",
            "type",
            None,
            |tag, body| Some(build(tag, body)),
            SUPPORTED,
        )
    }
}

fn build<E: serde::de::Error>(tag: &str, body: Value) -> Result<AggregatorSpec, E> {
    if tag == "filtered" {
        return build_filtered(body);
    }
    if tag == "cardinality" {
        return Err(de::error_at(
            "type",
            "`cardinality` is a query-time aggregator and cannot be used at ingest; use `hyperUnique` on the field instead",
        ));
    }
    let Some(kind) = AggregatorKind::from_type_name(tag) else {
        return Err(de::error_at(
            "type",
            format!(
                "unknown or unsupported aggregator type `{tag}` (supported: {})",
                SUPPORTED.join(", ")
            ),
        ));
    };
    let spec = |name, field_name| AggregatorSpec {
        kind,
        name,
        field_name,
        is_input_hyper_unique: false,
        round: false,
        filter: None,
    };
    match kind {
        AggregatorKind::Count => {
            let raw: RawCount = de::from_value_nested(body)?;
            Ok(spec(raw.name, None))
        }
        AggregatorKind::HyperUnique => {
            let raw: RawHyperUnique = de::from_value_nested(body)?;
            Ok(AggregatorSpec {
                is_input_hyper_unique: raw.is_input_hyper_unique,
                round: raw.round,
                ..spec(raw.name, Some(raw.field_name))
            })
        }
        _ => {
            let raw: RawField = de::from_value_nested(body)?;
            if raw.expression.is_some() {
                return Err(de::error_at(
                    "expression",
                    "aggregator expressions are not supported; use `fieldName`",
                ));
            }
            Ok(spec(raw.name, Some(raw.field_name)))
        }
    }
}

/// `filtered`: the delegate with the filter attached (named by `name` when given, as newer Druid
/// allows). First/last have no value for "no event", so they cannot be filtered.
fn build_filtered<E: serde::de::Error>(body: Value) -> Result<AggregatorSpec, E> {
    let raw: RawFiltered = de::from_value_nested(body)?;
    let mut spec = raw.aggregator;
    if spec.filter.is_some() {
        return Err(de::error_at(
            "aggregator",
            "a filtered aggregator cannot wrap another one",
        ));
    }
    if spec.kind.is_first_or_last() {
        return Err(de::error_at(
            "aggregator",
            format!("`{}` cannot be filtered at ingest", spec.kind.type_name()),
        ));
    }
    let filter = AggregatorFilter::parse(raw.filter).map_err(|e| de::error_at("filter", e))?;
    spec.name = raw.name.unwrap_or(spec.name);
    spec.filter = Some(filter);
    Ok(spec)
}

impl AggregatorSpec {
    /// The aggregator JSON, as Druid writes it in `metadata.drd` and resolved specs.
    pub fn to_json(&self) -> Value {
        let delegate = self.delegate_json();
        match &self.filter {
            Some(filter) => serde_json::json!({
                "type": "filtered",
                "filter": filter.json,
                "aggregator": delegate,
            }),
            None => delegate,
        }
    }

    fn delegate_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("type".into(), self.kind.type_name().into());
        map.insert("name".into(), self.name.clone().into());
        if let Some(field) = &self.field_name {
            map.insert("fieldName".into(), field.clone().into());
        }
        if self.kind.has_expression() {
            map.insert("expression".into(), Value::Null);
        }
        if self.kind == AggregatorKind::HyperUnique {
            map.insert(
                "isInputHyperUnique".into(),
                self.is_input_hyper_unique.into(),
            );
            map.insert("round".into(), self.round.into());
        }
        Value::Object(map)
    }

    /// The combining form Druid stores in `metadata.drd`: reads this aggregator's own output column.
    pub fn combining_json(&self) -> Value {
        let combining = AggregatorSpec {
            kind: self.kind.combining(),
            name: self.name.clone(),
            field_name: Some(self.name.clone()),
            is_input_hyper_unique: false,
            round: self.round,
            filter: None,
        };
        combining.to_json()
    }
}

impl Serialize for AggregatorSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AggregatorSpec, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| crate::config::de::SpecPathError::from_path_error("$", e).to_string())
    }

    #[test]
    fn reads_every_ingest_aggregator() {
        let count = parse(r#"{"type":"count","name":"rows"}"#).unwrap();
        assert_eq!(
            (count.kind, count.field_name.as_deref()),
            (AggregatorKind::Count, None)
        );
        let min = parse(r#"{"type":"min","name":"m","fieldName":"f"}"#).unwrap();
        assert_eq!(min.kind, AggregatorKind::DoubleMin);
        let hll = parse(r#"{"type":"hyperUnique","name":"u","fieldName":"user"}"#).unwrap();
        assert_eq!(hll.kind.metric_type(), MetricType::HyperUnique);
        assert_eq!(
            count.combining_json().to_string(),
            r#"{"type":"longSum","name":"rows","fieldName":"rows","expression":null}"#
        );
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(
            parse(r#"{"type":"longSum","name":"x"}"#).unwrap_err(),
            "$: missing field `fieldName`"
        );
        assert_eq!(
            parse(r#"{"type":"longSum","name":"x","fieldName":3}"#).unwrap_err(),
            "$.fieldName: invalid type: integer `3`, expected a string"
        );
        assert!(
            parse(r#"{"type":"cardinality","name":"x","fields":["a"]}"#)
                .unwrap_err()
                .starts_with("$.type: `cardinality` is a query-time")
        );
        assert!(
            parse(r#"{"type":"thetaSketch","name":"x","fieldName":"a"}"#)
                .unwrap_err()
                .contains("`thetaSketch`")
        );
        assert!(
            parse(r#"{"type":"count","name":"x","extra":1}"#)
                .unwrap_err()
                .starts_with("$.extra: unknown field `extra`")
        );
    }

    #[test]
    fn filtered_wraps_its_delegate() {
        let json = r#"{"type":"filtered","filter":{"type":"selector","dimension":"isRobot","value":"true"},"aggregator":{"type":"longSum","name":"robot_added","fieldName":"added"}}"#;
        let spec = parse(json).unwrap();
        assert_eq!(
            (spec.kind, spec.name.as_str(), spec.field_name.as_deref()),
            (AggregatorKind::LongSum, "robot_added", Some("added"))
        );
        let filter = spec.filter.as_ref().expect("a filter");
        let mut columns = Vec::new();
        filter.filter.columns(&mut columns);
        assert_eq!(columns, ["isRobot"]);
        assert_eq!(
            spec.to_json(),
            serde_json::from_str::<Value>(
                r#"{"type":"filtered","filter":{"type":"selector","dimension":"isRobot","value":"true"},"aggregator":{"type":"longSum","name":"robot_added","fieldName":"added","expression":null}}"#
            )
            .unwrap()
        );
        assert_eq!(
            spec.combining_json().to_string(),
            r#"{"type":"longSum","name":"robot_added","fieldName":"robot_added","expression":null}"#,
            "metadata.drd holds the delegate's combining form, as Druid's"
        );
        let renamed = parse(r#"{"type":"filtered","name":"n","filter":{"type":"true"},"aggregator":{"type":"count","name":"c"}}"#).unwrap();
        assert_eq!(renamed.name, "n");
    }

    #[test]
    fn filtered_errors_name_the_path() {
        let with = |filter: &str, aggregator: &str| {
            parse(&format!(
                r#"{{"type":"filtered","filter":{filter},"aggregator":{aggregator}}}"#
            ))
            .unwrap_err()
        };
        let sum = r#"{"type":"longSum","name":"s","fieldName":"f"}"#;
        let err = with(r#"{"type":"selector","value":"x"}"#, sum);
        assert!(err.starts_with("$.filter: "), "{err}");
        let err = with(r#"{"type":"true"}"#, r#"{"type":"longSum","name":"s"}"#);
        assert_eq!(err, "$.aggregator: missing field `fieldName`");
        let err = with(
            r#"{"type":"true"}"#,
            r#"{"type":"longFirst","name":"s","fieldName":"f"}"#,
        );
        assert_eq!(
            err,
            "$.aggregator: `longFirst` cannot be filtered at ingest"
        );
        let inner =
            format!(r#"{{"type":"filtered","filter":{{"type":"true"}},"aggregator":{sum}}}"#);
        let err = with(r#"{"type":"true"}"#, &inner);
        assert_eq!(
            err,
            "$.aggregator: a filtered aggregator cannot wrap another one"
        );
    }
}
