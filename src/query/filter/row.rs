//! Evaluating a [`Filter`] on one result row (a JSON object), as the `filter` having spec does.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::Filter;
use crate::expr::Value as ExprValue;
use crate::expr::cells::Cell;
use crate::query::exec::cells::java_double_text;

/// Returns the text of a result value (numbers as Java prints them, null as `None`).
pub fn value_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(match n.as_i64() {
            Some(l) => l.to_string(),
            None => java_double_text(n.as_f64().unwrap_or(0.0)),
        }),
        other => Some(other.to_string()),
    }
}

/// True when the row satisfies the filter.
pub fn matches_row(filter: &Filter, row: &Map<String, Value>, timestamp_ms: i64) -> bool {
    let text = |name: &str| -> Option<String> {
        if name == "__time" {
            return Some(timestamp_ms.to_string());
        }
        value_text(row.get(name))
    };
    match filter {
        Filter::True => true,
        Filter::False => false,
        Filter::And(children) => children.iter().all(|c| matches_row(c, row, timestamp_ms)),
        Filter::Or(children) => children.iter().any(|c| matches_row(c, row, timestamp_ms)),
        Filter::Not(child) => !matches_row(child, row, timestamp_ms),
        Filter::Value {
            dimension,
            extraction,
            predicate,
        } => {
            let value = text(dimension);
            let value = match extraction {
                Some(f) => f.apply(value.as_deref()),
                None => value,
            };
            match row.get(dimension.as_str()).and_then(Value::as_f64) {
                Some(number)
                    if extraction.is_none()
                        && !matches!(row.get(dimension.as_str()), Some(Value::String(_))) =>
                {
                    predicate.matches_number(number, value.as_deref().unwrap_or(""))
                }
                _ => predicate.matches(value.as_deref()),
            }
        }
        Filter::Interval {
            dimension,
            intervals,
            ..
        } => text(dimension)
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|ms| intervals.iter().any(|i| i.contains(ms))),
        Filter::ColumnComparison(dims) => {
            let values: Vec<Option<String>> = dims
                .iter()
                .map(|d| {
                    let v = text(&d.dimension);
                    match &d.extraction {
                        Some(f) => f.apply(v.as_deref()),
                        None => v,
                    }
                })
                .collect();
            values.windows(2).all(|w| w[0] == w[1])
        }
        Filter::Expression { expr, columns } => {
            let cells: Vec<Cell<'_>> = columns
                .iter()
                .map(|name| match row.get(name.as_str()) {
                    _ if name == "__time" => Cell::One(ExprValue::Long(timestamp_ms)),
                    Some(value) => json_cell(value),
                    None => Cell::One(ExprValue::Null),
                })
                .collect();
            super::expression_matches(expr, columns, &cells)
        }
    }
}

/// A result value as an expression reads it.
fn json_cell(value: &Value) -> Cell<'_> {
    Cell::One(match value {
        Value::Number(n) => n.as_i64().map_or_else(
            || ExprValue::Double(n.as_f64().unwrap_or(0.0)),
            ExprValue::Long,
        ),
        Value::String(s) => ExprValue::Str(Cow::Borrowed(s)),
        Value::Bool(b) => ExprValue::Long((*b).into()),
        Value::Array(items) => {
            return Cell::Many(
                items
                    .iter()
                    .map(|v| value_text(Some(v)).map(Cow::Owned))
                    .collect(),
            );
        }
        _ => ExprValue::Null,
    })
}
