//! Deserialization helpers that keep the JSON path of every mistake.
//!
//! `serde_path_to_error` tracks the path while serde walks plain structs, but a polymorphic
//! object (Druid's `{"type": …}` objects) has to be buffered before its variant is known, and the
//! path inside the buffer would be lost. [`tagged`] deserializes the variant with its own path
//! tracker and smuggles the inner path out inside the error message (between two `\u{1}` marks);
//! [`SpecPathError::from_path_error`] stitches outer and inner paths back together.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Marks the start and end of an inner path inside an error message.
const PATH_MARK: char = '\u{1}';

/// A spec mistake and the JSON path where it is (`$[0].dataSchema.metricsSpec[2].fieldName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecPathError {
    /// JSONPath of the offending value.
    pub path: String,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for SpecPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl SpecPathError {
    /// Builds an error at `path` (already in `$…` form).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecPathError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Converts a `serde_path_to_error` error, rooted at `root` (e.g. `$` or `$[0]`).
    pub fn from_path_error(root: &str, err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let outer = render_path(root, err.path());
        let raw = strip_serde_position(&err.inner().to_string());
        let (inner_path, message) = split_marked(&raw);
        SpecPathError {
            path: format!("{outer}{inner_path}"),
            message,
        }
    }
}

/// Renders a serde path as JSONPath segments appended to `root`.
fn render_path(root: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = root.to_string();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut out, key),
            Segment::Unknown => {}
        }
    }
    out
}

/// `path` followed by `key` as a JSONPath segment (`.key`, or `["a.b"]` when it needs quoting).
pub fn key_path(path: &str, key: &str) -> String {
    let mut out = path.to_string();
    push_key(&mut out, key);
    out
}

fn push_key(out: &mut String, key: &str) {
    let simple = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if simple {
        out.push('.');
        out.push_str(key);
    } else {
        out.push_str(&format!(
            "[{}]",
            serde_json::to_string(key).unwrap_or_default()
        ));
    }
}

/// serde_json appends " at line L column C", meaningless once we name the path.
fn strip_serde_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(pos) if message[pos..].contains(" column ") => message[..pos].to_string(),
        _ => message.to_string(),
    }
}

/// Splits `\u{1}inner.path\u{1}message` into the path suffix and the message.
fn split_marked(raw: &str) -> (String, String) {
    if let Some(rest) = raw.strip_prefix(PATH_MARK)
        && let Some((inner, message)) = rest.split_once(PATH_MARK)
    {
        return (inner.to_string(), message.to_string());
    }
    (String::new(), raw.to_string())
}

/// Deserializes `value` as `T`, turning any error into a serde error whose message carries the
/// inner JSON path, so the outer tracker can name the full path.
pub fn from_value_nested<T: DeserializeOwned, E: serde::de::Error>(value: Value) -> Result<T, E> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = render_path("", err.path());
        let raw = strip_serde_position(&err.inner().to_string());
        let (deeper, message) = split_marked(&raw);
        E::custom(format!("{PATH_MARK}{inner}{deeper}{PATH_MARK}{message}"))
    })
}

/// An error at a sub-key of the value being deserialized (`key` is appended to the path).
pub fn error_at<E: serde::de::Error>(key: &str, message: impl fmt::Display) -> E {
    let mut path = String::new();
    push_key(&mut path, key);
    E::custom(format!("{PATH_MARK}{path}{PATH_MARK}{message}"))
}

/// Reads a Druid polymorphic object: the variant name under `tag_key` (or `default_tag`), the
/// rest of the object handed to `build` with the tag removed.
pub fn tagged<'de, D, T>(
    deserializer: D,
    what: &str,
    tag_key: &str,
    default_tag: Option<&str>,
    build: impl FnOnce(&str, Value) -> Option<Result<T, D::Error>>,
    supported: &[&str],
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let mut map = Map::<String, Value>::deserialize(deserializer)?;
    let tag = match map.remove(tag_key) {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(error_at(
                tag_key,
                format!("expected a string {what} {tag_key}, found `{other}`"),
            ));
        }
        None => match default_tag {
            Some(d) => d.to_string(),
            None => {
                return Err(D::Error::custom(format!(
                    "missing field `{tag_key}` ({what} {tag_key}: one of {})",
                    supported.join(", ")
                )));
            }
        },
    };
    match build(&tag, Value::Object(map)) {
        Some(result) => result,
        None => Err(error_at(
            tag_key,
            format!(
                "unknown or unsupported {what} {tag_key} `{tag}` (supported: {})",
                supported.join(", ")
            ),
        )),
    }
}

/// Accepts a boolean or its string form (`"true"`), as Jackson coerces Druid's examples.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(D::Error::custom(format!(
            "invalid type: `{other}`, expected a boolean"
        ))),
    }
}

/// Accepts an unsigned integer or its string form (`"10"`).
pub fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or_default()),
        Value::String(s) if s.trim().parse::<u64>().is_ok() => {
            Ok(s.trim().parse().unwrap_or_default())
        }
        other => Err(D::Error::custom(format!(
            "invalid type: `{other}`, expected a non-negative integer"
        ))),
    }
}

/// Reads a map of Kafka-style properties whose values may be strings, numbers or booleans.
pub fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Map<String, Value>, D::Error> {
    let map = Map::<String, Value>::deserialize(deserializer)?;
    let mut out = Map::new();
    for (key, value) in map {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(error_at(
                    &key,
                    format!("expected a string value, found `{other}`"),
                ));
            }
        };
        out.insert(key, Value::String(text));
    }
    Ok(out)
}
