//! `dataSchema`: datasource name, input parser, metrics and granularities (reference §1.2).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::aggregator::AggregatorSpec;
use super::de;
use crate::index::granularity::Granularity;
use crate::time::Interval;

/// `dataSchema`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSchema {
    /// Datasource name; also a directory name, so it must be a safe path component.
    pub data_source: String,
    /// How input is parsed.
    pub parser: ParserSpec,
    /// Ingest-time aggregators.
    #[serde(default)]
    pub metrics_spec: Vec<AggregatorSpec>,
    /// Segment and query granularity, rollup.
    #[serde(default)]
    pub granularity_spec: GranularitySpec,
    /// Druid's `transformSpec` (0.13+): its `filter` drops the events it does not match.
    #[serde(default, skip_serializing_if = "TransformSpec::is_empty")]
    pub transform_spec: TransformSpec,
}

/// `transformSpec`: expression `transforms`, evaluated on each parsed event (each on the
/// event's input fields, none on another's output), whose results replace or add the columns
/// they name (`__time` replaces the event time); then a `filter`, evaluated on the transformed
/// event as a `filtered` aggregator's is; an event it does not match is thrown away with reason
/// `filtered`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformSpec {
    /// Druid's filter JSON (`selector`, `in`, `bound`, `and`, …).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::aggregator::deserialize_filter",
        serialize_with = "super::aggregator::serialize_filter"
    )]
    pub filter: Option<super::aggregator::AggregatorFilter>,
    /// Expression transforms, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<TransformDef>,
}

/// One transform: `{"type": "expression", "name": …, "expression": …}` (Druid's only kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformDef {
    /// `expression` (checked by validation).
    #[serde(rename = "type")]
    pub kind: String,
    /// The column the result replaces or adds.
    pub name: String,
    /// The expression, in Druid's expression language ([`crate::expr`]).
    pub expression: String,
}

impl TransformSpec {
    /// True when it neither filters nor transforms.
    pub fn is_empty(&self) -> bool {
        self.filter.is_none() && self.transforms.is_empty()
    }
}

/// `parser`: `string` (bytes decoded as text) or `map` (already-structured events).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ParserSpec {
    /// Text input (`encoding` must be UTF-8).
    #[serde(rename_all = "camelCase")]
    String {
        /// Format of each line.
        parse_spec: ParseSpec,
        /// Character set (only UTF-8 is supported).
        encoding: String,
    },
    /// Events that arrive as JSON maps (e.g. pushed to the receiver firehose).
    #[serde(rename_all = "camelCase")]
    Map {
        /// Timestamp and dimensions of the map (its format-specific fields are ignored).
        parse_spec: ParseSpec,
    },
}

impl ParserSpec {
    /// The parse spec of either parser type.
    pub fn parse_spec(&self) -> &ParseSpec {
        match self {
            ParserSpec::String { parse_spec, .. } | ParserSpec::Map { parse_spec } => parse_spec,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStringParser {
    parse_spec: ParseSpec,
    #[serde(default = "default_encoding")]
    encoding: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMapParser {
    parse_spec: ParseSpec,
}

fn default_encoding() -> String {
    "UTF-8".to_string()
}

impl<'de> Deserialize<'de> for ParserSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de::tagged(
            deserializer,
            "parser",
            "type",
            Some("string"),
            |tag, body| match tag {
                "string" | "hadoopyString" => Some(
                    de::from_value_nested::<RawStringParser, D::Error>(body).and_then(|raw| {
                        let upper = raw.encoding.to_ascii_uppercase();
                        if upper != "UTF-8" && upper != "UTF8" {
                            return Err(de::error_at(
                                "encoding",
                                format!("encoding `{}` is not supported; only UTF-8", raw.encoding),
                            ));
                        }
                        Ok(ParserSpec::String {
                            parse_spec: raw.parse_spec,
                            encoding: raw.encoding,
                        })
                    }),
                ),
                "map" => Some(
                    de::from_value_nested::<RawMapParser, D::Error>(body).map(|raw| {
                        ParserSpec::Map {
                            parse_spec: raw.parse_spec,
                        }
                    }),
                ),
                _ => None,
            },
            &["string", "map"],
        )
    }
}

/// `parseSpec`: the input format (`format`, default `tsv` as in Druid) with timestamp and dimensions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParseSpec {
    /// `json`, `jsonLowercase`, `csv`, `tsv` or `regex`.
    pub format: InputFormat,
    /// Where the event time is.
    pub timestamp_spec: TimestampSpec,
    /// Which fields become dimensions.
    pub dimensions_spec: DimensionsSpec,
    /// JSON only: fields taken from nested paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flatten_spec: Option<FlattenSpec>,
    /// CSV/TSV: column names in order; regex: the names of the capture groups in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// TSV: field delimiter (default tab).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// CSV/TSV/regex: separator of multi-value fields (default `\u0001`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_delimiter: Option<String>,
    /// Regex: the pattern a whole line must match (Rust `regex` syntax, close to Java's without
    /// look-around and back-references).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// CSV/TSV: the first line names the columns.
    pub has_header_row: bool,
    /// CSV/TSV: lines to skip at the start of each file.
    pub skip_header_rows: u32,
}

/// The parse spec `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InputFormat {
    /// One JSON object per line.
    Json,
    /// JSON with keys lower-cased.
    JsonLowercase,
    /// Comma-separated values.
    Csv,
    /// Tab- (or `delimiter`-) separated values.
    Tsv,
    /// Lines matched by a regular expression, one column per capture group.
    Regex,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawParseSpec {
    #[serde(default)]
    timestamp_spec: TimestampSpec,
    #[serde(default)]
    dimensions_spec: DimensionsSpec,
    #[serde(default)]
    flatten_spec: Option<FlattenSpec>,
    #[serde(default)]
    feature_spec: Option<Map<String, Value>>,
    #[serde(default)]
    columns: Option<Vec<String>>,
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    list_delimiter: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    has_header_row: bool,
    #[serde(default)]
    skip_header_rows: u32,
}

impl<'de> Deserialize<'de> for ParseSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de::tagged(
            deserializer,
            "parseSpec",
            "format",
            Some("tsv"),
            |tag, body| {
                let format = match tag {
                    "json" => InputFormat::Json,
                    "jsonLowercase" => InputFormat::JsonLowercase,
                    "csv" => InputFormat::Csv,
                    "tsv" => InputFormat::Tsv,
                    "regex" => InputFormat::Regex,
                    _ => return None,
                };
                Some(
                    de::from_value_nested::<RawParseSpec, D::Error>(body)
                        .and_then(|raw| build_parse_spec(format, raw)),
                )
            },
            &["json", "jsonLowercase", "csv", "tsv", "regex"],
        )
    }
}

fn build_parse_spec<E: serde::de::Error>(
    format: InputFormat,
    raw: RawParseSpec,
) -> Result<ParseSpec, E> {
    let delimited = matches!(format, InputFormat::Csv | InputFormat::Tsv);
    let regex = format == InputFormat::Regex;
    let json = !delimited && !regex;
    let misplaced = [
        ("flattenSpec", raw.flatten_spec.is_some() && !json),
        ("featureSpec", raw.feature_spec.is_some() && !json),
        (
            "delimiter",
            raw.delimiter.is_some() && format != InputFormat::Tsv,
        ),
        ("listDelimiter", raw.list_delimiter.is_some() && json),
        ("hasHeaderRow", raw.has_header_row && !delimited),
        ("skipHeaderRows", raw.skip_header_rows > 0 && !delimited),
        ("pattern", raw.pattern.is_some() && !regex),
    ];
    if let Some((key, _)) = misplaced.iter().find(|(_, bad)| *bad) {
        return Err(de::error_at(
            key,
            format!("`{key}` does not apply to format `{}`", format_name(format)),
        ));
    }
    if let Some(columns) = &raw.columns
        && let Some(i) = columns
            .iter()
            .position(|c| c.is_empty() || (format == InputFormat::Csv && c.contains(',')))
    {
        return Err(de::error_at(
            "columns",
            format!(
                "column name #{i} `{}` is empty or contains a comma",
                columns[i]
            ),
        ));
    }
    let delimiter = match (format, raw.delimiter) {
        (InputFormat::Tsv, None) => Some("\t".to_string()),
        (_, d) => d,
    };
    let list_delimiter = match (delimited || regex, raw.list_delimiter) {
        (true, None) => Some("\u{1}".to_string()),
        (_, d) => d,
    };
    Ok(ParseSpec {
        format,
        timestamp_spec: raw.timestamp_spec,
        dimensions_spec: raw.dimensions_spec,
        flatten_spec: raw.flatten_spec,
        columns: raw.columns,
        delimiter,
        list_delimiter,
        pattern: raw.pattern,
        has_header_row: raw.has_header_row,
        skip_header_rows: raw.skip_header_rows,
    })
}

fn format_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Json => "json",
        InputFormat::JsonLowercase => "jsonLowercase",
        InputFormat::Csv => "csv",
        InputFormat::Tsv => "tsv",
        InputFormat::Regex => "regex",
    }
}

/// `timestampSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimestampSpec {
    /// Input field holding the event time.
    #[serde(default = "default_timestamp_column")]
    pub column: String,
    /// `auto`, `iso`, `millis`, `posix`, `micro`, `nano`, `ruby` or a Joda pattern.
    #[serde(default = "default_timestamp_format")]
    pub format: String,
    /// Time used when the column is missing (Druid: for testing).
    #[serde(default)]
    pub missing_value: Option<String>,
}

fn default_timestamp_column() -> String {
    "timestamp".to_string()
}

fn default_timestamp_format() -> String {
    "auto".to_string()
}

impl Default for TimestampSpec {
    fn default() -> Self {
        TimestampSpec {
            column: default_timestamp_column(),
            format: default_timestamp_format(),
            missing_value: None,
        }
    }
}

/// `dimensionsSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DimensionsSpec {
    /// Explicit dimensions in order; empty means schemaless (every field not excluded).
    #[serde(default)]
    pub dimensions: Vec<DimensionSchema>,
    /// Fields never taken as dimensions.
    #[serde(default)]
    pub dimension_exclusions: Vec<String>,
    /// Deprecated spatial form `{dimName, dims}`, folded into `dimensions`.
    #[serde(default, skip_serializing)]
    pub spatial_dimensions: Vec<LegacySpatialDimension>,
}

/// Druid's deprecated `spatialDimensions` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySpatialDimension {
    /// Output dimension name.
    pub dim_name: String,
    /// Input fields joined as `lat,lon`.
    #[serde(default)]
    pub dims: Vec<String>,
}

/// One dimension: its name and value type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DimensionSchema {
    /// `string`, `long`, `float`, `double` or `spatial`.
    #[serde(rename = "type")]
    pub kind: DimensionType,
    /// Dimension name (also the input field, except for spatial dimensions).
    pub name: String,
    /// Spatial only: input fields joined with `,`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dims: Vec<String>,
    /// Druid's `multiValueHandling` (string dimensions): how a row's several values are kept.
    pub multi_value_handling: MultiValueHandling,
    /// Druid's `createBitmapIndex` (default true). False leaves a string dimension's bitmap
    /// indexes out of the merged segment (its part carries Druid's `NO_BITMAP_INDEX` flag);
    /// queries filtering on it build them when they first need them. Numeric dimensions never
    /// have bitmap indexes.
    pub create_bitmap_index: bool,
}

/// Druid's `multiValueHandling`: what becomes of the values of a multi-value row (read
/// case-insensitively, as Druid does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MultiValueHandling {
    /// Sorted (null first, then Java string order), duplicates kept: Druid's default.
    #[default]
    SortedArray,
    /// Sorted, duplicates removed.
    SortedSet,
    /// In input order, duplicates kept.
    Array,
}

impl MultiValueHandling {
    /// Reads Druid's name (`SORTED_ARRAY`, `SORTED_SET`, `ARRAY`, any case).
    pub fn from_name(name: &str) -> Option<MultiValueHandling> {
        match name.to_ascii_uppercase().as_str() {
            "SORTED_ARRAY" => Some(MultiValueHandling::SortedArray),
            "SORTED_SET" => Some(MultiValueHandling::SortedSet),
            "ARRAY" => Some(MultiValueHandling::Array),
            _ => None,
        }
    }
}

/// The value type of a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DimensionType {
    /// Dictionary-encoded strings with bitmap indexes.
    String,
    /// 64-bit integers.
    Long,
    /// 32-bit floats.
    Float,
    /// 64-bit doubles.
    Double,
    /// Coordinates joined as a string (`lat,lon`); stored as a string dimension.
    Spatial,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDimensionSchema {
    name: String,
    #[serde(default)]
    dims: Vec<String>,
    #[serde(default)]
    multi_value_handling: Option<String>,
    #[serde(default)]
    create_bitmap_index: Option<bool>,
}

impl<'de> Deserialize<'de> for DimensionSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if let Value::String(name) = value {
            return Ok(DimensionSchema {
                kind: DimensionType::String,
                name,
                dims: Vec::new(),
                multi_value_handling: MultiValueHandling::SortedArray,
                create_bitmap_index: true,
            });
        }
        if !value.is_object() {
            return Err(serde::de::Error::custom(format!(
                "expected a dimension name or object, found `{value}`"
            )));
        }
        de::tagged(
            value,
            "dimension",
            "type",
            Some("string"),
            |tag, body| {
                let kind: DimensionType =
                    serde_json::from_value(Value::String(tag.to_string())).ok()?;
                Some(
                    de::from_value_nested::<RawDimensionSchema, serde_json::Error>(body).and_then(
                        |raw| {
                            let multi_value_handling = match raw.multi_value_handling.as_deref() {
                        None => MultiValueHandling::SortedArray,
                        Some(name) => MultiValueHandling::from_name(name).ok_or_else(|| {
                            de::error_at(
                                "multiValueHandling",
                                format!("`{name}` is not one of SORTED_ARRAY, SORTED_SET, ARRAY"),
                            )
                        })?,
                    };
                            Ok(DimensionSchema {
                                kind,
                                name: raw.name,
                                dims: raw.dims,
                                multi_value_handling,
                                create_bitmap_index: raw.create_bitmap_index.unwrap_or(true),
                            })
                        },
                    ),
                )
            },
            &["string", "long", "float", "double", "spatial"],
        )
        .map_err(serde::de::Error::custom)
    }
}

/// `flattenSpec` of the JSON parse spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlattenSpec {
    /// Also take every top-level scalar (and list of scalars) field.
    #[serde(default = "default_true")]
    pub use_field_discovery: bool,
    /// Explicit fields.
    #[serde(default)]
    pub fields: Vec<FlattenField>,
}

fn default_true() -> bool {
    true
}

/// One flattened field: `root` (a top-level field) or `path` (a JSONPath such as `$.a.b[0]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlattenField {
    /// `root` or `path`.
    #[serde(rename = "type")]
    pub kind: FlattenFieldType,
    /// Output field name.
    pub name: String,
    /// JSONPath for `path` fields (root fields read `name`, or `expr` when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
}

/// The kind of a flattened field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FlattenFieldType {
    /// A top-level field.
    Root,
    /// A JSONPath expression.
    Path,
}

/// `granularitySpec` (type `uniform`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GranularitySpec {
    /// Always `uniform` for realtime ingestion.
    #[serde(rename = "type", default = "default_uniform")]
    pub kind: String,
    /// Length of one segment interval.
    #[serde(default = "default_segment_granularity")]
    pub segment_granularity: Granularity,
    /// Truncation of row timestamps.
    #[serde(default = "default_query_granularity")]
    pub query_granularity: Granularity,
    /// Combine rows with equal time and dimensions.
    #[serde(default = "default_true")]
    pub rollup: bool,
    /// Ignored for realtime ingestion (kept for compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Vec<Interval>>,
}

fn default_uniform() -> String {
    "uniform".to_string()
}

fn default_segment_granularity() -> Granularity {
    Granularity::named("DAY").expect("DAY is a granularity")
}

fn default_query_granularity() -> Granularity {
    Granularity::None
}

impl Default for GranularitySpec {
    fn default() -> Self {
        GranularitySpec {
            kind: default_uniform(),
            segment_granularity: default_segment_granularity(),
            query_granularity: default_query_granularity(),
            rollup: true,
            intervals: None,
        }
    }
}
