//! `virtualColumns`: Druid's `expression` virtual columns, columns a query computes from
//! others ([`crate::expr`]) and reads like stored ones: as dimensions, in filters and as
//! aggregator inputs. Each hydrant the query reads materializes the ones it uses
//! ([`crate::query::exec::virtual_columns`]).

use std::borrow::Cow;

use serde_json::{Value, json};

use super::json::obj;
use crate::expr::Expr;
use crate::query::error::{QueryError, QueryResult};

/// The type a virtual column's values are coerced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    /// `LONG`.
    Long,
    /// `FLOAT` (Druid's default).
    Float,
    /// `DOUBLE`.
    Double,
    /// `STRING` (a list for a multi-value input mapped value by value).
    String,
}

/// One `expression` virtual column.
#[derive(Debug, Clone)]
pub struct VirtualColumn {
    /// The column's name.
    pub name: String,
    /// The parsed expression.
    pub expr: Expr,
    /// The columns it reads.
    pub inputs: Vec<String>,
    /// Its type.
    pub output_type: OutputType,
}

impl VirtualColumn {
    /// Parses `virtualColumns` (absent or null: none).
    pub fn parse_list(value: Option<&Value>) -> QueryResult<Vec<VirtualColumn>> {
        let items = match value {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(QueryError::invalid("virtualColumns must be a list")),
        };
        let columns = items
            .iter()
            .map(VirtualColumn::parse)
            .collect::<QueryResult<Vec<_>>>()?;
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.name == column.name) || column.name == "__time" {
                return Err(QueryError::invalid(format!(
                    "virtual column name `{}` is used twice or is reserved",
                    column.name
                )));
            }
        }
        Ok(columns)
    }

    fn parse(value: &Value) -> QueryResult<VirtualColumn> {
        let o = obj(value, "virtual column")?;
        let kind = o.type_name()?;
        if kind != "expression" {
            return Err(QueryError::unsupported(format!(
                "virtual column type `{kind}` is not supported by this node (supported: expression)"
            )));
        }
        let name = o.str("name")?.to_string();
        let expr = Expr::parse(o.str("expression")?)
            .map_err(|e| QueryError::invalid(format!("virtual column `{name}`: {e}")))?;
        let output_type = match o.opt_str("outputType")?.map(str::to_ascii_uppercase) {
            None => OutputType::Float,
            Some(t) => match t.as_str() {
                "LONG" => OutputType::Long,
                "FLOAT" => OutputType::Float,
                "DOUBLE" => OutputType::Double,
                "STRING" => OutputType::String,
                _ => {
                    return Err(QueryError::invalid(format!(
                        "virtual column `{name}`: unknown outputType `{t}`"
                    )));
                }
            },
        };
        Ok(VirtualColumn {
            inputs: expr.identifiers(),
            name,
            expr,
            output_type,
        })
    }
}

/// Druid's aggregators with an `expression` input instead of a `fieldName` (`longSum`,
/// `doubleSum`, …, also inside `filtered`): each reads a virtual column of its expression,
/// added to the query here (named `__expr_{aggregator name}`, typed after the aggregator). A
/// null `expression`, as Druid's SQL layer writes it, is no input at all.
pub fn lift_aggregator_expressions(query: &Value) -> Cow<'_, Value> {
    let has_expression = |aggs: &Value| {
        aggs.as_array()
            .is_some_and(|a| a.iter().any(has_expression_key))
    };
    if !query.get("aggregations").is_some_and(has_expression) {
        return Cow::Borrowed(query);
    }
    let mut query = query.clone();
    let mut lifted = Vec::new();
    if let Some(aggs) = query.get_mut("aggregations").and_then(Value::as_array_mut) {
        for agg in aggs {
            lift(agg, &mut lifted);
        }
    }
    if !lifted.is_empty() {
        let columns = query
            .as_object_mut()
            .expect("a query with aggregations is an object")
            .entry("virtualColumns")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(columns) = columns {
            columns.extend(lifted);
        }
    }
    Cow::Owned(query)
}

fn has_expression_key(agg: &Value) -> bool {
    agg.get("expression").is_some() || agg.get("aggregator").is_some_and(has_expression_key)
}

fn lift(agg: &mut Value, lifted: &mut Vec<Value>) {
    if let Some(inner) = agg.get_mut("aggregator") {
        lift(inner, lifted);
    }
    let Some(object) = agg.as_object_mut() else {
        return;
    };
    match object.remove("expression") {
        Some(Value::String(expression)) => {
            let name = object.get("name").and_then(Value::as_str).unwrap_or("");
            let column = format!("__expr_{name}");
            let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
            let output_type = ["long", "float", "double"]
                .into_iter()
                .find(|t| kind.starts_with(t))
                .unwrap_or("double");
            lifted.push(json!({"type": "expression", "name": column,
                "expression": expression, "outputType": output_type}));
            object.insert("fieldName".into(), Value::String(column));
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            // Not a string: put it back for the aggregator's own error.
            object.insert("expression".into(), other);
        }
    }
}
