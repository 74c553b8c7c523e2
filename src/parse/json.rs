//! The `json` / `jsonLowercase` parse specs (and the `map` parser): one JSON object per event.
//!
//! Without a `flattenSpec` the object is walked lazily with sonic-rs: values are sliced out of
//! the line, never copied unless they contain escapes. With a `flattenSpec` the object is parsed
//! into a DOM so that nested paths can be followed.

use std::borrow::Cow;

use sonic_rs::{JsonContainerTrait, JsonValueTrait};

use super::flatten::FieldPath;
use super::scan::{Key, ObjectScanner, RawValue, ScanError, array_elements};
use super::schema::{RowSchema, Target};
use super::timestamp::TimestampInput;
use super::{
    DimValue, FieldValue, ParseError, ParsedRow, ParserBuildError, java, set_dim, set_field,
    sort_multi_values,
};
use crate::config::schema::FlattenSpec;

/// A scalar or list read from JSON, borrowing from the line where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue<'a> {
    /// `null`.
    Null,
    /// A string (or an object/boolean rendered as text).
    Str(Cow<'a, str>),
    /// An integer.
    Long(i64),
    /// A fractional number.
    Double(f64),
    /// `true` / `false`.
    Bool(bool),
    /// An array of scalars.
    List(Vec<Option<Cow<'a, str>>>),
}

impl<'a> JsonValue<'a> {
    /// The value as Druid's `String.valueOf` writes it (`None` for null).
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            JsonValue::Null => None,
            JsonValue::Str(s) => Some(s),
            JsonValue::Long(n) => Some(Cow::Owned(n.to_string())),
            JsonValue::Double(x) => Some(Cow::Owned(java::double_to_string(x))),
            JsonValue::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            JsonValue::List(_) => None,
        }
    }

    fn into_dim(self) -> DimValue<'a> {
        match self {
            JsonValue::List(mut values) => {
                sort_multi_values(&mut values);
                DimValue::Many(values)
            }
            other => other
                .into_text()
                .map(DimValue::One)
                .unwrap_or(DimValue::Null),
        }
    }

    fn into_field(self) -> FieldValue<'a> {
        match self {
            JsonValue::Null => FieldValue::Null,
            JsonValue::Long(n) => FieldValue::Long(n),
            JsonValue::Double(x) => FieldValue::Double(x),
            JsonValue::List(values) => FieldValue::List(values),
            other => other
                .into_text()
                .map(FieldValue::Str)
                .unwrap_or(FieldValue::Null),
        }
    }
}

/// A timestamp value, owned only when it had to be unescaped.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampValue<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// Integer.
    Long(i64),
    /// Fraction.
    Double(f64),
}

impl TimestampValue<'_> {
    /// Borrows as a timestamp input.
    pub fn as_input(&self) -> TimestampInput<'_> {
        match self {
            TimestampValue::Text(s) => TimestampInput::Text(s),
            TimestampValue::Long(n) => TimestampInput::Long(*n),
            TimestampValue::Double(x) => TimestampInput::Double(*x),
        }
    }
}

/// State of the JSON format: options and the positional key cache.
#[derive(Debug)]
pub struct JsonFormat {
    lowercase: bool,
    flatten: Option<Flattener>,
    /// Key seen at each position of the previous event, with its routing.
    key_cache: Vec<(Box<str>, Target)>,
}

#[derive(Debug)]
struct Flattener {
    discover: bool,
    fields: Vec<(String, FieldPath)>,
}

impl JsonFormat {
    /// Builds the format from the parse spec options.
    pub fn new(
        lowercase: bool,
        flatten: Option<&FlattenSpec>,
    ) -> Result<JsonFormat, ParserBuildError> {
        let flatten = match flatten {
            Some(spec) if !spec.fields.is_empty() || !spec.use_field_discovery => {
                let mut fields = Vec::with_capacity(spec.fields.len());
                for field in &spec.fields {
                    let expr = field.expr.as_deref().unwrap_or(&field.name);
                    let path = FieldPath::parse(field.kind, expr)
                        .map_err(|e| ParserBuildError(e.to_string()))?;
                    fields.push((field.name.clone(), path));
                }
                Some(Flattener {
                    discover: spec.use_field_discovery,
                    fields,
                })
            }
            _ => None,
        };
        Ok(JsonFormat {
            lowercase,
            flatten,
            key_cache: Vec::new(),
        })
    }

    /// Parses one object into `row`, returning the timestamp field's value if present.
    pub fn parse<'a>(
        &mut self,
        line: &'a str,
        schema: &mut RowSchema,
        row: &mut ParsedRow<'a>,
    ) -> Result<Option<TimestampValue<'a>>, ParseError> {
        if self.flatten.is_some() {
            return self.parse_flattened(line, schema, row);
        }
        let json_error = |e: ScanError| ParseError::Json(e.to_string());
        let mut scanner = ObjectScanner::new(line).map_err(json_error)?;
        let mut timestamp = None;
        let mut position = 0;
        loop {
            let expected = self.key_cache.get(position).map(|(raw, _)| raw.as_bytes());
            let target = match scanner.next_key(expected).map_err(json_error)? {
                None => break,
                Some(Key::Expected) => self.key_cache[position].1,
                Some(Key::New { raw, text }) => self.route(position, raw, &text, schema),
            };
            position += 1;
            let value = scanner.next_value().map_err(json_error)?;
            if target != Target::NONE {
                store(target, value, row, &mut timestamp)?;
            }
        }
        finish_spatial(schema, row);
        Ok(timestamp)
    }

    /// Routes a key not found in the positional cache, and caches it (by its raw text).
    fn route(&mut self, position: usize, raw: &str, key: &str, schema: &mut RowSchema) -> Target {
        let target = if self.lowercase {
            schema.target(&key.to_lowercase())
        } else {
            schema.target(key)
        };
        if position < 256 {
            if position < self.key_cache.len() {
                self.key_cache[position] = (raw.into(), target);
            } else if position == self.key_cache.len() {
                self.key_cache.push((raw.into(), target));
            }
        }
        target
    }

    fn parse_flattened<'a>(
        &mut self,
        line: &'a str,
        schema: &mut RowSchema,
        row: &mut ParsedRow<'a>,
    ) -> Result<Option<TimestampValue<'a>>, ParseError> {
        let doc: sonic_rs::Value =
            sonic_rs::from_str(line).map_err(|e| ParseError::Json(e.to_string()))?;
        let object = doc
            .as_object()
            .ok_or_else(|| ParseError::Json("an event must be a JSON object".to_string()))?;
        let flattener = self.flatten.as_ref().expect("checked by the caller");
        let mut timestamp = None;
        if flattener.discover {
            for (key, value) in object.iter() {
                if value.is_object()
                    || (value.is_array()
                        && value
                            .as_array()
                            .is_some_and(|a| a.iter().any(|v| v.is_object() || v.is_array())))
                {
                    continue;
                }
                let key = if self.lowercase {
                    key.to_lowercase()
                } else {
                    key.to_string()
                };
                let target = schema.target(&key);
                deliver(target, dom_to_json(value), row, &mut timestamp);
            }
        }
        for (name, path) in &flattener.fields {
            let target = schema.target(name);
            let value = path.find(&doc).map(dom_to_json).unwrap_or(JsonValue::Null);
            deliver(target, value, row, &mut timestamp);
        }
        finish_spatial(schema, row);
        Ok(timestamp)
    }
}

/// Puts one scanned value where its key routes it, with fast paths for the shapes of nearly
/// every field: a string dimension, an integer metric input, a string timestamp, a string both
/// dimension and metric input.
#[inline]
fn store<'a>(
    target: Target,
    value: RawValue<'a>,
    row: &mut ParsedRow<'a>,
    timestamp: &mut Option<TimestampValue<'a>>,
) -> Result<(), ParseError> {
    const DIM_ONLY: (bool, bool, bool) = (true, false, false);
    const FIELD_ONLY: (bool, bool, bool) = (false, true, false);
    const TIMESTAMP_ONLY: (bool, bool, bool) = (false, false, true);
    const DIM_AND_FIELD: (bool, bool, bool) = (true, true, false);
    let shape = (
        target.dim.is_some(),
        target.field.is_some(),
        target.timestamp,
    );
    match (shape, value) {
        (DIM_ONLY, RawValue::Str(text)) => {
            let d = target.dim.unwrap_or_default() as usize;
            grow(row, d, 0);
            set_dim(&mut row.dims[d], DimValue::One(text));
        }
        (FIELD_ONLY, RawValue::Long(n)) => {
            let f = target.field.unwrap_or_default() as usize;
            set_field(&mut row.fields[f], FieldValue::Long(n));
        }
        (TIMESTAMP_ONLY, RawValue::Str(text)) => *timestamp = Some(TimestampValue::Text(text)),
        (DIM_AND_FIELD, RawValue::Str(text)) => {
            let d = target.dim.unwrap_or_default() as usize;
            grow(row, d, 0);
            let f = target.field.unwrap_or_default() as usize;
            set_field(&mut row.fields[f], FieldValue::Str(text.clone()));
            set_dim(&mut row.dims[d], DimValue::One(text));
        }
        (_, value) => deliver(target, raw_to_json(value)?, row, timestamp),
    }
    Ok(())
}

pub(crate) fn deliver<'a>(
    target: Target,
    value: JsonValue<'a>,
    row: &mut ParsedRow<'a>,
    timestamp: &mut Option<TimestampValue<'a>>,
) {
    if target.timestamp {
        *timestamp = match &value {
            JsonValue::Null => None,
            JsonValue::Long(n) => Some(TimestampValue::Long(*n)),
            JsonValue::Double(x) => Some(TimestampValue::Double(*x)),
            JsonValue::Str(s) => Some(TimestampValue::Text(s.clone())),
            other => other.clone().into_text().map(TimestampValue::Text),
        };
    }
    match (target.dim, target.field) {
        (Some(d), Some(f)) => {
            grow(row, d as usize, f as usize);
            row.fields[f as usize] = value.clone().into_field();
            row.dims[d as usize] = value.into_dim();
        }
        (Some(d), None) => {
            grow(row, d as usize, 0);
            row.dims[d as usize] = value.into_dim();
        }
        (None, Some(f)) => row.fields[f as usize] = value.into_field(),
        (None, None) => {}
    }
}

/// Schemaless parsing may have added a dimension in the middle of this row.
fn grow(row: &mut ParsedRow<'_>, dim: usize, _field: usize) {
    if row.dims.len() <= dim {
        row.dims.resize(dim + 1, DimValue::Null);
    }
}

/// Spatial dimensions join their input fields as `a,b`.
pub(crate) fn finish_spatial(schema: &RowSchema, row: &mut ParsedRow<'_>) {
    if !schema.has_spatial() {
        return;
    }
    for (slot, dim) in schema.dimensions().iter().enumerate() {
        if dim.spatial_inputs.is_empty() {
            continue;
        }
        let parts: Option<Vec<String>> = dim
            .spatial_inputs
            .iter()
            .map(|f| match &row.fields[*f] {
                FieldValue::Long(n) => Some(n.to_string()),
                FieldValue::Double(x) => Some(java::double_to_string(*x)),
                FieldValue::Str(s) => Some(s.to_string()),
                _ => None,
            })
            .collect();
        if row.dims.len() <= slot {
            row.dims.resize(slot + 1, DimValue::Null);
        }
        row.dims[slot] = parts
            .map(|p| DimValue::One(Cow::Owned(p.join(","))))
            .unwrap_or(DimValue::Null);
    }
}

/// Converts a scanned value; strings without escapes stay borrowed from the line.
fn raw_to_json(value: RawValue<'_>) -> Result<JsonValue<'_>, ParseError> {
    Ok(match value {
        RawValue::Str(s) => JsonValue::Str(s),
        RawValue::Long(n) => JsonValue::Long(n),
        RawValue::Number(n) => number(n)?,
        RawValue::Bool(b) => JsonValue::Bool(b),
        RawValue::Null => JsonValue::Null,
        RawValue::Object(raw) => JsonValue::Str(Cow::Borrowed(raw)),
        RawValue::Array(raw) => {
            let elements = array_elements(raw).map_err(|e| ParseError::Json(e.to_string()))?;
            let mut items = Vec::with_capacity(elements.len());
            for element in elements {
                items.push(match element {
                    RawValue::Array(nested) | RawValue::Object(nested) => {
                        Some(Cow::Borrowed(nested))
                    }
                    other => raw_to_json(other)?.into_text(),
                });
            }
            JsonValue::List(items)
        }
    })
}

fn number<'a>(raw: &str) -> Result<JsonValue<'a>, ParseError> {
    let is_integer = !raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if is_integer && let Ok(n) = raw.parse::<i64>() {
        return Ok(JsonValue::Long(n));
    }
    raw.parse::<f64>()
        .map(JsonValue::Double)
        .map_err(|_| ParseError::Json(format!("invalid number `{raw}`")))
}

/// Converts a DOM value (flatten mode); everything is owned.
fn dom_to_json<'a>(value: &sonic_rs::Value) -> JsonValue<'a> {
    if value.is_null() {
        JsonValue::Null
    } else if let Some(b) = value.as_bool() {
        JsonValue::Bool(b)
    } else if let Some(n) = value.as_i64() {
        JsonValue::Long(n)
    } else if let Some(x) = value.as_f64() {
        JsonValue::Double(x)
    } else if let Some(s) = value.as_str() {
        JsonValue::Str(Cow::Owned(s.to_string()))
    } else if let Some(array) = value.as_array() {
        JsonValue::List(
            array
                .iter()
                .map(|v| {
                    dom_to_json(v)
                        .into_text()
                        .map(|c| Cow::Owned(c.into_owned()))
                })
                .collect(),
        )
    } else {
        JsonValue::Str(Cow::Owned(sonic_rs::to_string(value).unwrap_or_default()))
    }
}
