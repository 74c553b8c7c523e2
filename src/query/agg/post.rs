//! Post-aggregators: `arithmetic`, `fieldAccess`, `finalizingFieldAccess`, `constant`,
//! `hyperUniqueCardinality`, the `double`/`long` `greatest`/`least` pickers, and `expression`
//! (Druid's expression language over the finalized values, [`crate::expr`]). They run on
//! the intermediate values of one result row, in order, each able to read the ones before it.

use serde_json::Value;

use super::spec::{AggKind, AggSpec};
use super::value::{AggValue, estimate_json};
use crate::expr::Value as ExprValue;
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::cells::double_json;
use crate::query::spec::json::obj;

/// An arithmetic function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` (0 when dividing by 0).
    Div,
    /// `quotient` (plain division).
    Quotient,
    /// `pow`.
    Pow,
}

/// A post-aggregator.
#[derive(Debug, Clone)]
pub enum PostAgg {
    /// Arithmetic over the fields, left to right.
    Arithmetic {
        /// Output name.
        name: String,
        /// The function.
        op: ArithOp,
        /// Operands.
        fields: Vec<PostAgg>,
    },
    /// The value of an aggregator or an earlier post-aggregator (finalized when `finalizing`).
    FieldAccess {
        /// Output name.
        name: String,
        /// The field read.
        field: String,
        /// Finalize the value first.
        finalizing: bool,
    },
    /// A constant.
    Constant {
        /// Output name.
        name: String,
        /// The value.
        value: Value,
    },
    /// The estimate of a HyperLogLog aggregator.
    HyperUniqueCardinality {
        /// Output name.
        name: String,
        /// The aggregator.
        field: String,
        /// Round to a long.
        round: bool,
    },
    /// The greatest or least operand.
    Pick {
        /// Output name.
        name: String,
        /// Operands.
        fields: Vec<PostAgg>,
        /// Greatest (true) or least.
        greatest: bool,
        /// Long output (true) or double.
        long: bool,
    },
    /// An expression over aggregators and earlier post-aggregators (finalized, as Druid's
    /// `ExpressionPostAggregator` reads them).
    Expression {
        /// Output name.
        name: String,
        /// The parsed expression.
        expr: Box<crate::expr::Expr>,
    },
}

/// A computed value.
#[derive(Debug, Clone)]
pub enum PostVal {
    /// An aggregator's intermediate value with the index of its spec.
    Agg(AggValue, usize),
    /// A value already in output form.
    Json(Value),
}

impl PostVal {
    /// Returns the value as a double.
    pub fn as_f64(&self) -> f64 {
        match self {
            PostVal::Agg(v, _) => v.as_f64(),
            PostVal::Json(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            PostVal::Json(Value::String(s)) => s.parse().unwrap_or(0.0),
            PostVal::Json(_) => 0.0,
        }
    }

    /// Returns the output JSON.
    pub fn to_json(&self, specs: &[AggSpec], finalize: bool) -> Value {
        match self {
            PostVal::Agg(v, index) => v.to_json(&specs[*index], finalize),
            PostVal::Json(v) => v.clone(),
        }
    }
}

impl PostAgg {
    /// Parses a list of post-aggregators.
    pub fn parse_list(value: Option<&Value>) -> QueryResult<Vec<PostAgg>> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(PostAgg::parse).collect(),
            Some(_) => Err(QueryError::invalid("postAggregations must be a list")),
        }
    }

    /// Parses one post-aggregator.
    pub fn parse(value: &Value) -> QueryResult<PostAgg> {
        let o = obj(value, "post-aggregator")?;
        let name = || o.opt_str("name").map(|n| n.unwrap_or("").to_string());
        let fields = || -> QueryResult<Vec<PostAgg>> {
            o.array("fields")?.iter().map(PostAgg::parse).collect()
        };
        Ok(match o.type_name()? {
            "arithmetic" => {
                let op = match o.str("fn")? {
                    "+" => ArithOp::Add,
                    "-" => ArithOp::Sub,
                    "*" => ArithOp::Mul,
                    "/" => ArithOp::Div,
                    "quotient" => ArithOp::Quotient,
                    "pow" => ArithOp::Pow,
                    other => {
                        return Err(QueryError::invalid(format!(
                            "unknown arithmetic function `{other}`"
                        )));
                    }
                };
                PostAgg::Arithmetic {
                    name: name()?,
                    op,
                    fields: fields()?,
                }
            }
            kind @ ("fieldAccess" | "finalizingFieldAccess") => PostAgg::FieldAccess {
                name: name()?,
                field: o.str("fieldName")?.to_string(),
                finalizing: kind == "finalizingFieldAccess",
            },
            "constant" => PostAgg::Constant {
                name: name()?,
                value: o.get("value").cloned().ok_or_else(|| o.missing("value"))?,
            },
            "hyperUniqueCardinality" => PostAgg::HyperUniqueCardinality {
                name: name()?,
                field: o.str("fieldName")?.to_string(),
                round: o.opt_bool("round")?.unwrap_or(false),
            },
            kind @ ("doubleGreatest" | "doubleLeast" | "longGreatest" | "longLeast") => {
                PostAgg::Pick {
                    name: name()?,
                    fields: fields()?,
                    greatest: kind.ends_with("Greatest"),
                    long: kind.starts_with("long"),
                }
            }
            "expression" => PostAgg::Expression {
                name: name()?,
                expr: Box::new(crate::expr::Expr::parse(o.str("expression")?).map_err(|e| {
                    QueryError::invalid(format!("expression post-aggregator: {e}"))
                })?),
            },
            other @ ("javascript"
            | "thetaSketchEstimate"
            | "thetaSketchSetOp"
            | "quantilesDoublesSketchToQuantile"
            | "HLLSketchEstimate"
            | "buckets"
            | "quantile"
            | "quantiles") => {
                return Err(QueryError::unsupported(format!(
                    "post-aggregator type `{other}` is not supported by this node"
                )));
            }
            other => {
                return Err(QueryError::invalid(format!(
                    "unknown post-aggregator type `{other}`"
                )));
            }
        })
    }

    /// Returns the output name.
    pub fn name(&self) -> &str {
        match self {
            PostAgg::Arithmetic { name, .. }
            | PostAgg::FieldAccess { name, .. }
            | PostAgg::Constant { name, .. }
            | PostAgg::HyperUniqueCardinality { name, .. }
            | PostAgg::Pick { name, .. }
            | PostAgg::Expression { name, .. } => name,
        }
    }

    /// Computes the value on a row of aggregator values and earlier post-aggregator values.
    pub fn compute(
        &self,
        specs: &[AggSpec],
        values: &[AggValue],
        earlier: &[(String, PostVal)],
    ) -> QueryResult<PostVal> {
        let lookup = |field: &str| -> QueryResult<PostVal> {
            if let Some(index) = specs.iter().position(|s| s.name == field) {
                return Ok(PostVal::Agg(values[index].clone(), index));
            }
            if let Some((_, v)) = earlier.iter().rev().find(|(n, _)| n == field) {
                return Ok(v.clone());
            }
            Err(QueryError::invalid(format!(
                "post-aggregator field `{field}` is not an aggregator or an earlier post-aggregator"
            )))
        };
        Ok(match self {
            PostAgg::Arithmetic { op, fields, .. } => {
                let mut result: Option<f64> = None;
                for field in fields {
                    let v = field.compute(specs, values, earlier)?.as_f64();
                    result = Some(match result {
                        None => v,
                        Some(acc) => apply(*op, acc, v),
                    });
                }
                PostVal::Json(double_json(result.unwrap_or(0.0)))
            }
            PostAgg::FieldAccess {
                field, finalizing, ..
            } => match lookup(field)? {
                PostVal::Agg(v, index) if *finalizing => PostVal::Json(v.final_json(&specs[index])),
                other => other,
            },
            PostAgg::Constant { value, .. } => PostVal::Json(value.clone()),
            PostAgg::HyperUniqueCardinality { field, round, .. } => match lookup(field)? {
                PostVal::Agg(AggValue::Hll(c), _) => {
                    PostVal::Json(estimate_json(c.estimate(), *round))
                }
                _ => {
                    return Err(QueryError::invalid(format!(
                        "hyperUniqueCardinality field `{field}` is not a hyperUnique or cardinality aggregator"
                    )));
                }
            },
            PostAgg::Pick {
                fields,
                greatest,
                long,
                ..
            } => {
                let mut best: Option<f64> = None;
                for field in fields {
                    let v = field.compute(specs, values, earlier)?.as_f64();
                    best = Some(match best {
                        None => v,
                        Some(b) if (*greatest && v > b) || (!*greatest && v < b) => v,
                        Some(b) => b,
                    });
                }
                match (best, long) {
                    (None, _) => PostVal::Json(Value::Null),
                    (Some(v), true) => PostVal::Json(Value::from(v as i64)),
                    (Some(v), false) => PostVal::Json(double_json(v)),
                }
            }
            PostAgg::Expression { expr, .. } => {
                let bindings = PostBindings {
                    specs,
                    values,
                    earlier,
                };
                let value = expr
                    .eval(&bindings)
                    .map_err(|e| QueryError::invalid(format!("expression post-aggregator: {e}")))?;
                PostVal::Json(match value {
                    ExprValue::Null => Value::Null,
                    ExprValue::Long(n) => Value::from(n),
                    ExprValue::Double(x) => double_json(x),
                    ExprValue::Str(s) => Value::String(s.into_owned()),
                })
            }
        })
    }
}

/// An expression post-aggregator's view of a row: aggregators (finalized) and earlier
/// post-aggregators by name; other names are null.
struct PostBindings<'r> {
    specs: &'r [AggSpec],
    values: &'r [AggValue],
    earlier: &'r [(String, PostVal)],
}

impl crate::expr::Bindings for PostBindings<'_> {
    fn get(&self, name: &str) -> ExprValue<'_> {
        let json = if let Some(index) = self.specs.iter().position(|s| s.name == name) {
            self.values[index].final_json(&self.specs[index])
        } else if let Some((_, v)) = self.earlier.iter().rev().find(|(n, _)| n == name) {
            v.to_json(self.specs, true)
        } else {
            return ExprValue::Null;
        };
        match json {
            Value::Number(n) => n.as_i64().map_or_else(
                || ExprValue::Double(n.as_f64().unwrap_or(0.0)),
                ExprValue::Long,
            ),
            Value::String(s) => ExprValue::Str(std::borrow::Cow::Owned(s)),
            Value::Bool(b) => ExprValue::Long(b.into()),
            _ => ExprValue::Null,
        }
    }
}

fn apply(op: ArithOp, a: f64, b: f64) -> f64 {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div if b == 0.0 => 0.0,
        ArithOp::Div | ArithOp::Quotient => a / b,
        ArithOp::Pow => a.powf(b),
    }
}

/// Computes every post-aggregator of a row, in order.
pub fn compute_all(
    posts: &[PostAgg],
    specs: &[AggSpec],
    values: &[AggValue],
) -> QueryResult<Vec<(String, PostVal)>> {
    let mut out: Vec<(String, PostVal)> = Vec::with_capacity(posts.len());
    for post in posts {
        let value = post.compute(specs, values, &out)?;
        out.push((post.name().to_string(), value));
    }
    Ok(out)
}

/// True when `kind` keeps a collector (its intermediate value is not a number).
pub fn is_sketch(kind: &AggKind) -> bool {
    matches!(
        kind,
        AggKind::HyperUnique { .. } | AggKind::Cardinality { .. }
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn expressions_read_finalized_aggregators_and_earlier_post_aggregators() {
        let specs = AggSpec::parse_list(Some(&json!([
            {"type": "longSum", "name": "a", "fieldName": "x"},
            {"type": "doubleSum", "name": "d", "fieldName": "y"},
            {"type": "count", "name": "n"}
        ])))
        .unwrap();
        let values = [AggValue::Long(9), AggValue::Double(1.5), AggValue::Long(2)];
        let posts = PostAgg::parse_list(Some(&json!([
            {"type": "expression", "name": "avg", "expression": "a / n"},
            {"type": "expression", "name": "scaled", "expression": "avg * d"},
            {"type": "expression", "name": "label", "expression": "if(a > 5, concat('big-', a), 'small')"},
            {"type": "expression", "name": "none", "expression": "nvl(missing, 0) / 0"}
        ])))
        .unwrap();
        let out: Vec<Value> = compute_all(&posts, &specs, &values)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v.to_json(&specs, true))
            .collect();
        assert_eq!(out, [json!(4), json!(6.0), json!("big-9"), Value::Null]);
        let bad = PostAgg::parse(&json!({"type": "expression", "name": "e", "expression": "a +"}));
        assert!(matches!(bad, Err(e) if e.to_string().contains("unexpected end of expression")));
    }

    #[test]
    fn arithmetic_reads_aggregators_and_earlier_post_aggregators() {
        let specs = AggSpec::parse_list(Some(&json!([
            {"type": "longSum", "name": "a", "fieldName": "x"},
            {"type": "count", "name": "n"}
        ])))
        .unwrap();
        let values = [AggValue::Long(9), AggValue::Long(0)];
        let posts = PostAgg::parse_list(Some(&json!([
            {"type": "arithmetic", "name": "ratio", "fn": "/", "fields": [
                {"type": "fieldAccess", "fieldName": "a"}, {"type": "fieldAccess", "fieldName": "n"}]},
            {"type": "arithmetic", "name": "q", "fn": "quotient", "fields": [
                {"type": "fieldAccess", "fieldName": "a"}, {"type": "constant", "value": 2}]},
            {"type": "arithmetic", "name": "sum", "fn": "+", "fields": [
                {"type": "fieldAccess", "fieldName": "q"}, {"type": "constant", "value": 1}]},
            {"type": "longGreatest", "name": "g", "fields": [
                {"type": "fieldAccess", "fieldName": "a"}, {"type": "constant", "value": 3}]}
        ])))
        .unwrap();
        let out: Vec<(String, Value)> = compute_all(&posts, &specs, &values)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n, v.to_json(&specs, true)))
            .collect();
        assert_eq!(out[0].1, json!(0.0), "division by zero is 0");
        assert_eq!(out[1].1, json!(4.5));
        assert_eq!(out[2].1, json!(5.5));
        assert_eq!(out[3].1, json!(9));
        let unknown =
            PostAgg::parse(&json!({"type": "fieldAccess", "name": "z", "fieldName": "nope"}))
                .unwrap()
                .compute(&specs, &values, &[]);
        assert!(unknown.is_err());
    }

    #[test]
    fn first_and_last_combine_by_time() {
        let specs = AggSpec::parse_list(Some(&json!([
            {"type": "longFirst", "name": "f", "fieldName": "x"},
            {"type": "stringLast", "name": "l", "fieldName": "s"}
        ])))
        .unwrap();
        let mut first = AggValue::TimedLong(20, 1);
        first.combine(&AggValue::TimedLong(10, 2), &specs[0].kind);
        assert_eq!(first.final_json(&specs[0]), json!(2));
        let mut last = AggValue::TimedStr(20, Some("b".into()));
        last.combine(&AggValue::TimedStr(10, Some("a".into())), &specs[1].kind);
        assert_eq!(last.final_json(&specs[1]), json!("b"));
        assert_eq!(last.intermediate_json(), json!({"lhs": 20, "rhs": "b"}));
    }
}
