//! Parsing: raw input lines → [`ParsedRow`]s (timestamp, dimension values, metric inputs).
//!
//! The hot path borrows from the input: a JSON string without escapes becomes a `&str` into the
//! line, and fields are routed to their dimension or metric slot by position: producers repeat
//! their key order, so a key that equals, byte for byte, the key the previous event had at that
//! position is matched in place and takes its cached route (any other key is scanned and routed
//! through one hash lookup). Nothing is allocated per event unless a value needs unescaping or a
//! number becomes a dimension string.
//!
//! Druid's rules: a missing or null value is null; a JSON array is a multi-value dimension (kept
//! in input order here; the index arranges it as `multiValueHandling` says); numbers and booleans become strings as Java's `String.valueOf` writes them;
//! an event with bad JSON or a bad or missing timestamp is unparseable.

pub mod delimited;
pub mod flatten;
pub mod java;
pub mod json;
pub mod regex;
pub mod scan;
mod schema;
mod swar;
#[cfg(test)]
mod tests;
pub mod timestamp;
pub mod transform;

use std::borrow::Cow;

pub use schema::{DimensionDef, RowSchema};

use crate::config::{FireDepartment, InputFormat, ParserSpec};
use timestamp::{TimestampError, TimestampFormat, TimestampInput};

/// The value(s) of one dimension in one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DimValue<'a> {
    /// Missing or null.
    #[default]
    Null,
    /// One value.
    One(Cow<'a, str>),
    /// A list, in input order (the index arranges it as `multiValueHandling` says).
    Many(Vec<Option<Cow<'a, str>>>),
}

/// The raw value of a metric's input field in one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FieldValue<'a> {
    /// Missing or null.
    #[default]
    Null,
    /// A JSON integer.
    Long(i64),
    /// A JSON fractional number.
    Double(f64),
    /// A string (JSON string, CSV field, or a boolean's text).
    Str(Cow<'a, str>),
    /// A list of values.
    List(Vec<Option<Cow<'a, str>>>),
}

/// One parsed event, borrowing from its input line.
#[derive(Debug, Clone, Default)]
pub struct ParsedRow<'a> {
    /// Event time, epoch millis UTC.
    pub timestamp_ms: i64,
    /// Dimension values by dimension slot ([`RowSchema::dimensions`]).
    pub dims: Vec<DimValue<'a>>,
    /// Metric inputs by field slot ([`RowSchema::fields`]).
    pub fields: Vec<FieldValue<'a>>,
    /// The dictionary hash of each single string value, by dimension slot, where the index's
    /// prefetch already computed it (`0`: not computed); emptied with the row.
    pub dim_hashes: Vec<u64>,
    /// The row key the index's rollup-slot prefetch found for this row, valid for the index
    /// instance `key_index` names (`0`: none; reset with the row).
    pub key_index: u64,
    /// That key's rollup hash.
    pub key_hash: u64,
    /// That key's cells (trailing nulls trimmed).
    pub key_cells: Vec<u32>,
}

impl ParsedRow<'_> {
    /// Empties the row for the next event, keeping its buffers (nulls are written in place:
    /// clearing and refilling cost a clone per slot).
    fn reset(&mut self, num_dims: usize, num_fields: usize) {
        self.timestamp_ms = 0;
        self.dim_hashes.clear();
        self.key_index = 0;
        self.dims.truncate(num_dims);
        for slot in &mut self.dims {
            set_dim(slot, DimValue::Null);
        }
        self.dims.resize_with(num_dims, DimValue::default);
        self.fields.truncate(num_fields);
        for slot in &mut self.fields {
            set_field(slot, FieldValue::Null);
        }
        self.fields.resize_with(num_fields, FieldValue::default);
    }
}

/// Stores a dimension value. The old value usually owns nothing (null or borrowed text): it is
/// then forgotten, which skips a call to the drop glue (the values of an event are replaced
/// twice per event, once when storing and once when resetting).
#[inline(always)]
pub(crate) fn set_dim<'a>(slot: &mut DimValue<'a>, value: DimValue<'a>) {
    let old = std::mem::replace(slot, value);
    if matches!(old, DimValue::Null | DimValue::One(Cow::Borrowed(_))) {
        std::mem::forget(old);
    }
}

/// Stores a metric input value; see [`set_dim`].
#[inline(always)]
pub(crate) fn set_field<'a>(slot: &mut FieldValue<'a>, value: FieldValue<'a>) {
    let old = std::mem::replace(slot, value);
    if matches!(
        old,
        FieldValue::Null
            | FieldValue::Long(_)
            | FieldValue::Double(_)
            | FieldValue::Str(Cow::Borrowed(_))
    ) {
        std::mem::forget(old);
    }
}

/// Why an event is unparseable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not valid JSON (or not an object).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The timestamp column is absent or null.
    #[error("missing timestamp column `{0}`")]
    MissingTimestamp(String),
    /// The timestamp does not match its format.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    /// A CSV/TSV line that cannot be split.
    #[error("invalid {format} line: {reason}")]
    Delimited {
        /// `csv` or `tsv`.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A line the `regex` format's pattern does not match.
    #[error("invalid regex line: {reason}")]
    Regex {
        /// What is wrong.
        reason: String,
    },
    /// The input is not UTF-8.
    #[error("input is not valid UTF-8")]
    Utf8,
    /// A `transformSpec` transform could not be evaluated on the event.
    #[error("{0}")]
    Transform(String),
}

/// What [`InputRowParser::parse`] found on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// An event, now in the row buffer.
    Event,
    /// A blank line or a header row: not an event.
    Skipped,
}

/// Where the event time comes from.
#[derive(Debug, Clone)]
struct TimestampReader {
    format: TimestampFormat,
    missing_ms: Option<i64>,
    days: timestamp::DayCache,
}

impl TimestampReader {
    fn read(&mut self, column: &str, input: Option<TimestampInput<'_>>) -> Result<i64, ParseError> {
        if let (TimestampFormat::Auto | TimestampFormat::Iso, Some(TimestampInput::Text(s))) =
            (&self.format, input)
            && let Some(ms) = timestamp::fast_iso_cached(s.as_bytes(), &mut self.days)
            && (crate::time::MIN_INSTANT_MS..=crate::time::MAX_INSTANT_MS).contains(&ms)
        {
            return Ok(ms);
        }
        match input {
            Some(value) => Ok(self.format.read(value)?),
            None => self
                .missing_ms
                .ok_or_else(|| ParseError::MissingTimestamp(column.to_string())),
        }
    }
}

/// The format-specific part of the parser.
#[derive(Debug)]
enum Format {
    Json(json::JsonFormat),
    Delimited(delimited::DelimitedFormat),
    Regex(regex::RegexFormat),
}

/// Turns input lines into rows for one fire department.
#[derive(Debug)]
pub struct InputRowParser {
    schema: RowSchema,
    timestamp: TimestampReader,
    format: Format,
    /// The `transformSpec`'s expression transforms.
    transformer: Option<transform::RowTransformer>,
}

/// The parser could not be built from the spec (validation normally catches this first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the parser: {0}")]
pub struct ParserBuildError(pub String);

impl InputRowParser {
    /// Builds the parser of a validated fire department.
    pub fn new(department: &FireDepartment) -> Result<InputRowParser, ParserBuildError> {
        let parser = department.parser();
        let spec = parser.parse_spec();
        let ts_format = TimestampFormat::parse(&spec.timestamp_spec.format)
            .map_err(|e| ParserBuildError(e.to_string()))?;
        let missing_ms = match &spec.timestamp_spec.missing_value {
            Some(v) => {
                Some(crate::time::parse_iso(v).map_err(|e| ParserBuildError(e.to_string()))?)
            }
            None => None,
        };
        let schema = RowSchema::new(department);
        let transformer =
            transform::RowTransformer::new(&department.data_schema.transform_spec, &schema)
                .map_err(ParserBuildError)?;
        let input_format = match parser {
            ParserSpec::Map { .. } => InputFormat::Json,
            ParserSpec::String { .. } => spec.format,
        };
        let format = match input_format {
            InputFormat::Json | InputFormat::JsonLowercase => Format::Json(json::JsonFormat::new(
                input_format == InputFormat::JsonLowercase,
                spec.flatten_spec.as_ref(),
            )?),
            InputFormat::Csv | InputFormat::Tsv => {
                Format::Delimited(delimited::DelimitedFormat::new(input_format, spec)?)
            }
            InputFormat::Regex => Format::Regex(regex::RegexFormat::new(spec)?),
        };
        Ok(InputRowParser {
            schema,
            timestamp: TimestampReader {
                format: ts_format,
                missing_ms,
                days: timestamp::DayCache::default(),
            },
            format,
            transformer,
        })
    }

    /// The dimensions and metric input fields rows are laid out by (grows when schemaless).
    pub fn schema(&self) -> &RowSchema {
        &self.schema
    }

    /// Tells the parser a new file starts (CSV/TSV header rows are per file).
    pub fn start_file(&mut self) {
        if let Format::Delimited(d) = &mut self.format {
            d.start_file();
        }
    }

    /// Parses one line (without its line terminator) into `row`.
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        row: &mut ParsedRow<'a>,
    ) -> Result<LineKind, ParseError> {
        // An event line nearly always starts with its `{`; only others need the full trim.
        if line.as_bytes().first() != Some(&b'{') && line.trim().is_empty() {
            return Ok(LineKind::Skipped);
        }
        row.reset(self.schema.dimensions().len(), self.schema.fields().len());
        let timestamp_value = match &mut self.format {
            Format::Json(f) => f.parse(line, &mut self.schema, row)?,
            Format::Delimited(f) => match f.parse(line, &mut self.schema, row)? {
                Some(ts) => ts,
                None => return Ok(LineKind::Skipped),
            },
            Format::Regex(f) => f.parse(line, &mut self.schema, row)?,
        };
        let input = timestamp_value.as_ref().map(json::TimestampValue::as_input);
        row.timestamp_ms = self.timestamp.read(self.schema.timestamp_column(), input)?;
        if let Some(transformer) = &self.transformer {
            transformer.apply(&self.schema, row)?;
        }
        Ok(LineKind::Event)
    }

    /// Parses raw bytes (validating UTF-8 first).
    pub fn parse_bytes<'a>(
        &mut self,
        bytes: &'a [u8],
        row: &mut ParsedRow<'a>,
    ) -> Result<LineKind, ParseError> {
        let line = simdutf8::basic::from_utf8(bytes).map_err(|_| ParseError::Utf8)?;
        self.parse(line, row)
    }
}

/// Java `String.compareTo`: UTF-16 code-unit order (equal to byte order except that characters
/// at or above U+E000 sort after supplementary characters).
pub use crate::segment::string_column::java_str_cmp;
