//! `limitSpec` of groupBy (`default`: `orderBy` columns, `limit`, `offset`).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::query::error::{QueryError, QueryResult};
use crate::query::filter::StringOrdering;
use crate::query::filter::row::value_text;
use crate::query::spec::json::obj;

/// One `orderBy` column.
#[derive(Debug, Clone)]
pub struct OrderBy {
    /// Dimension, aggregator or post-aggregator name.
    pub column: String,
    /// Descending order.
    pub descending: bool,
    /// How dimension values compare.
    pub ordering: StringOrdering,
}

/// A `default` limit spec.
#[derive(Debug, Clone, Default)]
pub struct LimitSpec {
    /// The sort columns.
    pub columns: Vec<OrderBy>,
    /// Rows kept.
    pub limit: Option<usize>,
    /// Rows skipped first.
    pub offset: usize,
}

impl LimitSpec {
    /// Parses a limit spec (`null` means none).
    pub fn parse_opt(value: Option<&Value>) -> QueryResult<Option<LimitSpec>> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let o = obj(value, "limitSpec")?;
        match o.opt_str("type")?.unwrap_or("default") {
            "default" => {}
            "NoopLimitSpec" | "noop" => return Ok(None),
            other => {
                return Err(QueryError::invalid(format!(
                    "unknown limitSpec type `{other}`"
                )));
            }
        }
        let columns = o
            .opt_array("columns")?
            .or(o.opt_array("orderBy")?)
            .map(|items| {
                items
                    .iter()
                    .map(parse_order_by)
                    .collect::<QueryResult<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let limit = o.opt_i64("limit")?.filter(|l| *l >= 0).map(|l| l as usize);
        Ok(Some(LimitSpec {
            columns,
            limit,
            offset: o.opt_i64("offset")?.unwrap_or(0).max(0) as usize,
        }))
    }

    /// Sorts (after the timestamp) and cuts `rows`; `dimensions` are compared as strings.
    pub fn apply(&self, rows: &mut Vec<(i64, Map<String, Value>)>, dimensions: &[String]) {
        if !self.columns.is_empty() {
            rows.sort_by(|(ta, a), (tb, b)| {
                ta.cmp(tb).then_with(|| {
                    for column in &self.columns {
                        let order = compare_column(column, a, b, dimensions);
                        let order = if column.descending {
                            order.reverse()
                        } else {
                            order
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    Ordering::Equal
                })
            });
        }
        if self.offset > 0 {
            rows.drain(..self.offset.min(rows.len()));
        }
        if let Some(limit) = self.limit {
            rows.truncate(limit);
        }
    }
}

fn compare_column(
    column: &OrderBy,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    dimensions: &[String],
) -> Ordering {
    let (va, vb) = (a.get(&column.column), b.get(&column.column));
    if dimensions.contains(&column.column) {
        return column
            .ordering
            .compare_opt(value_text(va).as_deref(), value_text(vb).as_deref());
    }
    let number = |v: Option<&Value>| v.and_then(Value::as_f64);
    match (number(va), number(vb)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => column
            .ordering
            .compare_opt(value_text(va).as_deref(), value_text(vb).as_deref()),
    }
}

fn parse_order_by(value: &Value) -> QueryResult<OrderBy> {
    if let Value::String(column) = value {
        return Ok(OrderBy {
            column: column.clone(),
            descending: false,
            ordering: StringOrdering::Lexicographic,
        });
    }
    let o = obj(value, "orderBy column")?;
    let descending = match o.opt_str("direction")?.unwrap_or("ascending") {
        d if d.eq_ignore_ascii_case("ascending") || d.eq_ignore_ascii_case("asc") => false,
        d if d.eq_ignore_ascii_case("descending") || d.eq_ignore_ascii_case("desc") => true,
        other => return Err(QueryError::invalid(format!("unknown direction `{other}`"))),
    };
    let ordering = match o.opt_str("dimensionOrder")? {
        Some(name) => StringOrdering::parse(name)
            .ok_or_else(|| QueryError::invalid(format!("unknown dimensionOrder `{name}`")))?,
        None => StringOrdering::Lexicographic,
    };
    Ok(OrderBy {
        column: o.str("dimension")?.to_string(),
        descending,
        ordering,
    })
}
