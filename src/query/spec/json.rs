//! Small helpers to read query JSON with errors that name the offending field.

use serde_json::{Map, Value};

use crate::query::error::{QueryError, QueryResult};

/// A JSON object being read as part of `what` (for error messages).
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a> {
    /// The object.
    pub map: &'a Map<String, Value>,
    /// What it is (`query`, `filter`, `aggregator`, …).
    pub what: &'static str,
}

/// Reads `value` as an object describing `what`.
pub fn obj<'a>(value: &'a Value, what: &'static str) -> QueryResult<Obj<'a>> {
    match value {
        Value::Object(map) => Ok(Obj { map, what }),
        other => Err(QueryError::invalid(format!(
            "{what} must be a JSON object, got `{}`",
            short(other)
        ))),
    }
}

/// Returns a shortened rendering of a value for messages.
pub fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 {
        let mut end = 80;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    } else {
        text
    }
}

impl<'a> Obj<'a> {
    /// Returns a field, treating JSON null as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Returns the `type` field.
    pub fn type_name(&self) -> QueryResult<&'a str> {
        self.str("type")
    }

    /// Returns a required string field.
    pub fn str(&self, key: &str) -> QueryResult<&'a str> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// Returns an optional string field.
    pub fn opt_str(&self, key: &str) -> QueryResult<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(key, "a string", other)),
        }
    }

    /// Returns an optional field as a string, accepting numbers and booleans (Jackson coerces
    /// them).
    pub fn opt_text(&self, key: &str) -> QueryResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.bad(key, "a string", other)),
        }
    }

    /// Returns an optional boolean field (also `"true"`/`"false"` strings).
    pub fn opt_bool(&self, key: &str) -> QueryResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(self.bad(key, "a boolean", other)),
        }
    }

    /// Returns an optional integer field (also numeric strings).
    pub fn opt_i64(&self, key: &str) -> QueryResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| self.bad(key, "an integer", &Value::Number(n.clone()))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad(key, "an integer", &Value::String(s.clone()))),
            Some(other) => Err(self.bad(key, "an integer", other)),
        }
    }

    /// Returns an optional number field (also numeric strings).
    pub fn opt_f64(&self, key: &str) -> QueryResult<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad(key, "a number", &Value::String(s.clone()))),
            Some(other) => Err(self.bad(key, "a number", other)),
        }
    }

    /// Returns an optional array field.
    pub fn opt_array(&self, key: &str) -> QueryResult<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.bad(key, "a list", other)),
        }
    }

    /// Returns a required array field.
    pub fn array(&self, key: &str) -> QueryResult<&'a Vec<Value>> {
        self.opt_array(key)?.ok_or_else(|| self.missing(key))
    }

    /// Returns an optional list of strings.
    pub fn opt_strings(&self, key: &str) -> QueryResult<Option<Vec<String>>> {
        let Some(items) = self.opt_array(key)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(self.bad(key, "a list of strings", other)),
            })
            .collect::<QueryResult<Vec<String>>>()
            .map(Some)
    }

    /// The error for a missing required field.
    pub fn missing(&self, key: &str) -> QueryError {
        QueryError::invalid(format!("{} is missing field `{key}`", self.what))
    }

    /// The error for a field of the wrong type.
    pub fn bad(&self, key: &str, expected: &str, got: &Value) -> QueryError {
        QueryError::invalid(format!(
            "{} field `{key}` must be {expected}, got `{}`",
            self.what,
            short(got)
        ))
    }
}
