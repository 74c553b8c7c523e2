//! `flattenSpec` field paths: `root` fields and the JSONPath subset Druid's examples use
//! (`$.a.b`, `$.a[0]`, `$['key with spaces']`, negative indexes from the end).

use sonic_rs::{JsonContainerTrait, Value};

use crate::config::schema::FlattenFieldType;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index (negative counts from the end).
    Index(i64),
}

/// A compiled field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    /// Steps from the root object.
    pub segments: Vec<Segment>,
}

/// A JSONPath expression rtnode cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath `{expr}`: {reason}")]
pub struct PathError {
    expr: String,
    reason: &'static str,
}

impl FieldPath {
    /// Compiles a `root` field name or a `path` expression.
    pub fn parse(kind: FlattenFieldType, expr: &str) -> Result<FieldPath, PathError> {
        match kind {
            FlattenFieldType::Root => Ok(FieldPath {
                segments: vec![Segment::Key(expr.to_string())],
            }),
            FlattenFieldType::Path => parse_json_path(expr),
        }
    }

    /// Follows the path from `root`.
    pub fn find<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        let mut current = root;
        for segment in &self.segments {
            current = match segment {
                Segment::Key(key) => current.as_object()?.get(&key.as_str())?,
                Segment::Index(i) => {
                    let array = current.as_array()?;
                    let len = array.len() as i64;
                    let index = if *i < 0 { len + i } else { *i };
                    if index < 0 {
                        return None;
                    }
                    array.get(index as usize)?
                }
            };
        }
        Some(current)
    }
}

fn parse_json_path(expr: &str) -> Result<FieldPath, PathError> {
    let err = |reason| PathError {
        expr: expr.to_string(),
        reason,
    };
    let mut rest = expr
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| err("it must start with `$`"))?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            let key = &after_dot[..end];
            if key.is_empty() || key == "*" || key.starts_with('.') {
                return Err(err(
                    "empty keys, wildcards and deep scans are not supported",
                ));
            }
            segments.push(Segment::Key(key.to_string()));
            rest = &after_dot[end..];
        } else if let Some(after_bracket) = rest.strip_prefix('[') {
            let end = after_bracket.find(']').ok_or_else(|| err("unclosed `[`"))?;
            let inside = after_bracket[..end].trim();
            let segment = if let Some(quoted) =
                inside.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
            {
                Segment::Key(quoted.to_string())
            } else if let Some(quoted) = inside.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
            {
                Segment::Key(quoted.to_string())
            } else {
                Segment::Index(
                    inside
                        .parse()
                        .map_err(|_| err("brackets must hold an index or a quoted key"))?,
                )
            };
            segments.push(segment);
            rest = &after_bracket[end + 1..];
        } else {
            return Err(err("expected `.` or `[`"));
        }
    }
    if segments.is_empty() {
        return Err(err("the path selects the whole object"));
    }
    Ok(FieldPath { segments })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::JsonValueTrait;

    #[test]
    fn parses_and_follows_paths() {
        let doc: Value = sonic_rs::from_str(r#"{"a":{"b":[10,20,30],"c d":"x"},"top":1}"#).unwrap();
        let path = |e| FieldPath::parse(FlattenFieldType::Path, e).unwrap();
        assert_eq!(
            path("$.a.b[1]").find(&doc).and_then(|v| v.as_i64()),
            Some(20)
        );
        assert_eq!(
            path("$.a.b[-1]").find(&doc).and_then(|v| v.as_i64()),
            Some(30)
        );
        assert_eq!(
            path("$['a']['c d']")
                .find(&doc)
                .and_then(|v| v.as_str().map(str::to_string)),
            Some("x".into())
        );
        assert!(path("$.a.missing").find(&doc).is_none());
        assert!(path("$.a.b[7]").find(&doc).is_none());
        let root = FieldPath::parse(FlattenFieldType::Root, "top").unwrap();
        assert_eq!(root.find(&doc).and_then(|v| v.as_i64()), Some(1));
        for bad in ["a.b", "$", "$..a", "$.a[x]", "$.a[0", "$.*"] {
            assert!(
                FieldPath::parse(FlattenFieldType::Path, bad).is_err(),
                "{bad}"
            );
        }
    }
}
