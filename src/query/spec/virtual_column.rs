//! `virtualColumns`: Druid's `expression` virtual columns, columns a query computes from
//! others ([`crate::expr`]) and reads like stored ones: as dimensions, in filters and as
//! aggregator inputs. Each hydrant the query reads materializes the ones it uses
//! ([`crate::query::exec::virtual_columns`]).

use serde_json::Value;

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
