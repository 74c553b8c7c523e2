//! The `json` / `jsonLowercase` parse specs (and the `map` parser): one JSON object per event.
//!
//! Without a `flattenSpec` the object is walked once by the [`ObjectScanner`]: values are sliced
//! out of the line, never copied unless they contain escapes, and each member goes where the
//! positional key cache routes it (`store`). With a `flattenSpec` the object is parsed into a
//! sonic-rs DOM so that nested paths can be followed.

mod store;

use std::borrow::Cow;

use sonic_rs::{JsonContainerTrait, JsonValueTrait};

use super::flatten::FieldPath;
use super::scan::{Key, MemberPrefix, ObjectScanner, RawValue, ScanError, array_elements};
use super::schema::{RowSchema, Target};
use super::timestamp::TimestampInput;
use super::{DimValue, FieldValue, ParseError, ParsedRow, ParserBuildError, java};
use crate::config::schema::FlattenSpec;
pub(crate) use store::deliver;
use store::{Route, fast_store, store};

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
            // In input order: the index arranges them (`multiValueHandling`).
            JsonValue::List(values) => DimValue::Many(values),
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
    key_cache: Vec<CachedKey>,
}

/// The key an earlier event had at one position.
#[derive(Debug)]
struct CachedKey {
    /// The key as written between its quotes.
    raw: Box<str>,
    /// Separator, quoted key and colon, as compact JSON has them.
    prefix: MemberPrefix,
    /// Where its value goes.
    target: Target,
    /// The same, for the fast paths.
    route: Route,
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
            let cached = self.key_cache.get(position);
            let value = if let Some(key) = cached
                && scanner.take_prefix(&key.prefix)
            {
                // The common case: the same key, compact JSON.
                position += 1;
                if fast_store(key.route, &mut scanner, row, &mut timestamp).map_err(json_error)? {
                    continue;
                }
                (key.target, scanner.value_after_colon().map_err(json_error)?)
            } else {
                let expected = cached.map(|key| key.raw.as_bytes());
                let target = match scanner.next_key(expected).map_err(json_error)? {
                    None => break,
                    Some(Key::Expected) => self.key_cache[position].target,
                    Some(Key::New { raw, text }) => self.route(position, raw, &text, schema),
                };
                position += 1;
                (target, scanner.next_value().map_err(json_error)?)
            };
            let (target, value) = value;
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
            let key = CachedKey {
                raw: raw.into(),
                prefix: MemberPrefix::new(position, raw),
                target,
                route: Route::of(target),
            };
            if position < self.key_cache.len() {
                self.key_cache[position] = key;
            } else if position == self.key_cache.len() {
                self.key_cache.push(key);
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
