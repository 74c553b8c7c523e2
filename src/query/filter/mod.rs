//! Filters: parsed from Druid's filter JSON ([`Filter::parse`]), evaluated on a segment into a
//! bitmap of rows ([`eval`]) through the bitmap indexes of string columns, and on result rows
//! ([`row`]) for `having`.

pub mod eval;
pub mod predicate;
pub mod row;

use serde_json::Value;

use crate::expr::Expr;
use crate::expr::cells::{Cell, eval_cells};
use crate::query::error::{QueryError, QueryResult};
use crate::query::spec::json::obj;
use crate::query::spec::{DimensionSpec, ExtractionFn, SearchSpec};
use crate::time::Interval;
pub use predicate::{BoundEnd, StringOrdering, ValuePredicate, compile_like};

/// A row filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every row.
    True,
    /// No row.
    False,
    /// Rows every child accepts.
    And(Vec<Filter>),
    /// Rows some child accepts.
    Or(Vec<Filter>),
    /// Rows the child rejects.
    Not(Box<Filter>),
    /// Rows whose column value (through the extraction function) satisfies the predicate.
    Value {
        /// The column.
        dimension: String,
        /// Applied to the value first.
        extraction: Option<ExtractionFn>,
        /// The test.
        predicate: ValuePredicate,
    },
    /// Rows whose column (usually `__time`) lies in one of the intervals.
    Interval {
        /// The column.
        dimension: String,
        /// Applied to the value first.
        extraction: Option<ExtractionFn>,
        /// The intervals.
        intervals: Vec<Interval>,
    },
    /// Rows where every listed column has the same value.
    ColumnComparison(Vec<DimensionSpec>),
    /// Rows where a Druid expression is true ([`crate::expr`]; over a multi-value column, where
    /// it is true for some value).
    Expression {
        /// The parsed expression.
        expr: Box<Expr>,
        /// The columns it reads.
        columns: Vec<String>,
    },
}

/// True when `expr`, with `columns[i]` bound to `cells[i]`, is true (for some value of a
/// multi-value column); an expression that cannot be evaluated matches nothing.
pub fn expression_matches(expr: &Expr, columns: &[String], cells: &[Cell<'_>]) -> bool {
    let mut matched = false;
    let evaluated = eval_cells(expr, columns, cells, |v| matched |= v.as_bool());
    evaluated.is_ok() && matched
}

impl Filter {
    /// Parses a filter; `null` means no filter.
    pub fn parse_opt(value: Option<&Value>) -> QueryResult<Option<Filter>> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Filter::parse(v).map(Some),
        }
    }

    /// Parses a filter object.
    pub fn parse(value: &Value) -> QueryResult<Filter> {
        let o = obj(value, "filter")?;
        let children = |key: &str| -> QueryResult<Vec<Filter>> {
            o.array(key)?.iter().map(Filter::parse).collect()
        };
        let extraction = match o.get("extractionFn") {
            Some(f) => Some(ExtractionFn::parse(f)?),
            None => None,
        };
        let single = |predicate| -> QueryResult<Filter> {
            Ok(Filter::Value {
                dimension: o.str("dimension")?.to_string(),
                extraction: extraction.clone(),
                predicate,
            })
        };
        match o.type_name()? {
            "true" => Ok(Filter::True),
            "false" => Ok(Filter::False),
            "and" => Ok(Filter::And(children("fields")?)),
            "or" => Ok(Filter::Or(children("fields")?)),
            "not" => Ok(Filter::Not(Box::new(Filter::parse(
                o.get("field").ok_or_else(|| o.missing("field"))?,
            )?))),
            "selector" => single(ValuePredicate::Equals(
                o.opt_text("value")?.filter(|v| !v.is_empty()),
            )),
            "in" => {
                let values = o.array("values")?;
                let values = values
                    .iter()
                    .map(|v| match v {
                        Value::Null => Ok(None),
                        Value::String(s) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
                        Value::Number(n) => Ok(Some(n.to_string())),
                        Value::Bool(b) => Ok(Some(b.to_string())),
                        other => Err(o.bad("values", "a list of strings", other)),
                    })
                    .collect::<QueryResult<Vec<_>>>()?;
                single(ValuePredicate::In(values))
            }
            "bound" => single(parse_bound(&o)?),
            "regex" => {
                let pattern = o.str("pattern")?;
                let regex = regex::Regex::new(pattern)
                    .map_err(|e| QueryError::invalid(format!("invalid regex `{pattern}`: {e}")))?;
                single(ValuePredicate::Regex(regex))
            }
            "like" => {
                let pattern = o.str("pattern")?;
                let escape = o.opt_str("escape")?.and_then(|e| e.chars().next());
                let regex = compile_like(pattern, escape)
                    .map_err(|e| QueryError::invalid(format!("invalid like `{pattern}`: {e}")))?;
                single(ValuePredicate::Like(regex))
            }
            "search" => single(ValuePredicate::Search(SearchSpec::parse(
                o.get("query").ok_or_else(|| o.missing("query"))?,
            )?)),
            "interval" => Ok(Filter::Interval {
                dimension: o.str("dimension")?.to_string(),
                extraction,
                intervals: o
                    .array("intervals")?
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => crate::query::spec::common::parse_interval(s),
                        other => Err(o.bad("intervals", "a list of strings", other)),
                    })
                    .collect::<QueryResult<Vec<_>>>()?,
            }),
            "columnComparison" => Ok(Filter::ColumnComparison(
                o.array("dimensions")?
                    .iter()
                    .map(DimensionSpec::parse)
                    .collect::<QueryResult<Vec<_>>>()?,
            )),
            "expression" => {
                let text = o.str("expression")?;
                let expr = Expr::parse(text)
                    .map_err(|e| QueryError::invalid(format!("expression filter: {e}")))?;
                Ok(Filter::Expression {
                    columns: expr.identifiers(),
                    expr: Box::new(expr),
                })
            }
            other @ ("javascript" | "spatial" | "bloom") => Err(QueryError::unsupported(format!(
                "filter type `{other}` is not supported by this node"
            ))),
            other => Err(QueryError::invalid(format!(
                "unknown filter type `{other}`"
            ))),
        }
    }

    /// Returns every column the filter reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Filter::True | Filter::False => {}
            Filter::And(children) | Filter::Or(children) => {
                children.iter().for_each(|c| c.columns(out))
            }
            Filter::Not(child) => child.columns(out),
            Filter::Value { dimension, .. } | Filter::Interval { dimension, .. } => {
                out.push(dimension.clone())
            }
            Filter::ColumnComparison(dims) => out.extend(dims.iter().map(|d| d.dimension.clone())),
            Filter::Expression { columns, .. } => out.extend(columns.iter().cloned()),
        }
    }
}

fn parse_bound(o: &crate::query::spec::json::Obj<'_>) -> QueryResult<ValuePredicate> {
    let ordering = match o.opt_str("ordering")? {
        Some(name) => StringOrdering::parse(name)
            .ok_or_else(|| QueryError::invalid(format!("unknown bound ordering `{name}`")))?,
        None if o.opt_bool("alphaNumeric")?.unwrap_or(false) => StringOrdering::Alphanumeric,
        None => StringOrdering::Lexicographic,
    };
    let end = |key: &str, strict_key: &str| -> QueryResult<Option<BoundEnd>> {
        Ok(o.opt_text(key)?.map(|value| BoundEnd {
            value,
            strict: false,
        }))
        .and_then(|end| match end {
            Some(mut e) => {
                e.strict = o.opt_bool(strict_key)?.unwrap_or(false);
                Ok(Some(e))
            }
            None => Ok(None),
        })
    };
    Ok(ValuePredicate::Bound {
        lower: end("lower", "lowerStrict")?,
        upper: end("upper", "upperStrict")?,
        ordering,
    })
}
