//! `having` specs of groupBy: tests on the finished (finalized, post-aggregated) result rows.

use serde_json::{Map, Value};

use crate::query::error::{QueryError, QueryResult};
use crate::query::filter::Filter;
use crate::query::filter::row::{matches_row, value_text};
use crate::query::spec::ExtractionFn;
use crate::query::spec::json::obj;

/// A having spec.
#[derive(Debug, Clone)]
pub enum Having {
    /// Value of `aggregation` greater than `value`.
    GreaterThan(String, f64),
    /// Value of `aggregation` less than `value`.
    LessThan(String, f64),
    /// Value of `aggregation` equal to `value`.
    EqualTo(String, f64),
    /// Every child.
    And(Vec<Having>),
    /// Some child.
    Or(Vec<Having>),
    /// Not the child.
    Not(Box<Having>),
    /// A filter on the row.
    Filter(Filter),
    /// Dimension value equals (after extraction).
    DimSelector(String, Option<String>, Option<ExtractionFn>),
    /// Every row.
    Always,
    /// No row.
    Never,
}

impl Having {
    /// Parses a having spec (`null` means none).
    pub fn parse_opt(value: Option<&Value>) -> QueryResult<Option<Having>> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Having::parse(v).map(Some),
        }
    }

    /// Parses a having spec.
    pub fn parse(value: &Value) -> QueryResult<Having> {
        let o = obj(value, "having")?;
        let compare = || -> QueryResult<(String, f64)> {
            let value = o.opt_f64("value")?.ok_or_else(|| o.missing("value"))?;
            Ok((o.str("aggregation")?.to_string(), value))
        };
        let children = || -> QueryResult<Vec<Having>> {
            o.array("havingSpecs")?.iter().map(Having::parse).collect()
        };
        Ok(match o.type_name()? {
            "greaterThan" => {
                let (a, v) = compare()?;
                Having::GreaterThan(a, v)
            }
            "lessThan" => {
                let (a, v) = compare()?;
                Having::LessThan(a, v)
            }
            "equalTo" => {
                let (a, v) = compare()?;
                Having::EqualTo(a, v)
            }
            "and" => Having::And(children()?),
            "or" => Having::Or(children()?),
            "not" => Having::Not(Box::new(Having::parse(
                o.get("havingSpec").ok_or_else(|| o.missing("havingSpec"))?,
            )?)),
            "filter" => Having::Filter(Filter::parse(
                o.get("filter").ok_or_else(|| o.missing("filter"))?,
            )?),
            "dimSelector" => Having::DimSelector(
                o.str("dimension")?.to_string(),
                o.opt_text("value")?.filter(|v| !v.is_empty()),
                match o.get("extractionFn") {
                    Some(f) => Some(ExtractionFn::parse(f)?),
                    None => None,
                },
            ),
            "always" => Having::Always,
            "never" => Having::Never,
            other => {
                return Err(QueryError::invalid(format!(
                    "unknown having type `{other}`"
                )));
            }
        })
    }

    /// True when the row is kept.
    pub fn matches(&self, row: &Map<String, Value>, timestamp_ms: i64) -> bool {
        let number = |name: &str| -> Option<f64> {
            match row.get(name)? {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
        };
        match self {
            Having::GreaterThan(a, v) => number(a).is_some_and(|x| x > *v),
            Having::LessThan(a, v) => number(a).is_some_and(|x| x < *v),
            Having::EqualTo(a, v) => number(a).is_some_and(|x| x == *v),
            Having::And(children) => children.iter().all(|c| c.matches(row, timestamp_ms)),
            Having::Or(children) => children.iter().any(|c| c.matches(row, timestamp_ms)),
            Having::Not(child) => !child.matches(row, timestamp_ms),
            Having::Filter(filter) => matches_row(filter, row, timestamp_ms),
            Having::DimSelector(dim, value, extraction) => {
                let text = value_text(row.get(dim.as_str()));
                let text = match extraction {
                    Some(f) => f.apply(text.as_deref()),
                    None => text,
                };
                text == *value
            }
            Having::Always => true,
            Having::Never => false,
        }
    }
}
