//! Reading single cells of any column as JSON or as text (scan, select, column comparison,
//! predicate fallbacks). Block-cached column handles make sequential row access cheap.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::Value;

use crate::expr::Value as ExprValue;
use crate::expr::cells::Cell;
use crate::query::error::QueryResult;
use crate::segment::Column;

/// Formats a double the way Java's `Double.toString` does for common values (`905.0`).
pub fn java_double_text(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e7 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

/// Returns a JSON number for a double (null when not finite, which JSON cannot carry).
pub fn double_json(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Returns a JSON number for a float, printed as Java prints the float (`0.1`, not
/// `0.10000000149011612`).
pub fn float_json(value: f32) -> Value {
    let shortest: f64 = format!("{value}").parse().unwrap_or(value as f64);
    double_json(shortest)
}

/// Reads `row` of `column` as JSON: numbers, strings (arrays for multi-value rows, null when
/// absent) and complex values as base64.
pub fn cell_json(column: &Column, row: u32, ids: &mut Vec<u32>) -> QueryResult<Value> {
    Ok(match column {
        Column::Long(c) => Value::from(c.get(row)?),
        Column::Float(c) => float_json(c.get(row)?),
        Column::Double(c) => double_json(c.get(row)?),
        Column::String(c) => {
            c.row_ids(row, ids)?;
            let dictionary = c.dictionary();
            let text = |id: u32| -> QueryResult<Value> {
                Ok(dictionary
                    .get(id)?
                    .map_or(Value::Null, |s| Value::String(s.to_string())))
            };
            match ids.len() {
                0 => Value::Null,
                1 => text(ids[0])?,
                _ => Value::Array(ids.iter().map(|id| text(*id)).collect::<QueryResult<_>>()?),
            }
        }
        Column::Complex(c) => {
            let bytes = c.get(row)?;
            if bytes.is_empty() {
                Value::Null
            } else {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    })
}

/// Reads `row` of `column` as text values (one per value of a multi-value row; numbers as Java
/// prints them; null as `None`).
pub fn cell_texts(
    column: Option<&Column>,
    row: u32,
    ids: &mut Vec<u32>,
    out: &mut Vec<Option<String>>,
) -> QueryResult<()> {
    out.clear();
    match column {
        None | Some(Column::Complex(_)) => out.push(None),
        Some(Column::Long(c)) => out.push(Some(c.get(row)?.to_string())),
        Some(Column::Float(c)) => out.push(Some(java_double_text(
            format!("{}", c.get(row)?).parse().unwrap_or(0.0),
        ))),
        Some(Column::Double(c)) => out.push(Some(java_double_text(c.get(row)?))),
        Some(Column::String(c)) => {
            c.row_ids(row, ids)?;
            for id in ids.iter() {
                out.push(c.dictionary().get(*id)?.map(str::to_string));
            }
            if out.is_empty() {
                out.push(None);
            }
        }
    }
    Ok(())
}

/// A segment cell as an expression reads it.
pub fn expr_cell(
    column: Option<&Column>,
    row: u32,
    ids: &mut Vec<u32>,
) -> QueryResult<Cell<'static>> {
    Ok(Cell::One(match column {
        None | Some(Column::Complex(_)) => ExprValue::Null,
        Some(Column::Long(c)) => ExprValue::Long(c.get(row)?),
        Some(Column::Float(c)) => {
            ExprValue::Double(format!("{}", c.get(row)?).parse().unwrap_or(0.0))
        }
        Some(Column::Double(c)) => ExprValue::Double(c.get(row)?),
        Some(Column::String(c)) => {
            c.row_ids(row, ids)?;
            let mut values = Vec::with_capacity(ids.len());
            for id in ids.iter() {
                values.push(c.dictionary().get(*id)?.map(|s| Cow::Owned(s.to_string())));
            }
            match values.len() {
                0 => ExprValue::Null,
                1 => values
                    .pop()
                    .flatten()
                    .map_or(ExprValue::Null, ExprValue::Str),
                _ => return Ok(Cell::Many(values)),
            }
        }
    }))
}
