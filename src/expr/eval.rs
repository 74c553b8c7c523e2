//! Evaluation: value conversions and operators (Druid's rules, see the module doc of
//! [`super`]).

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{BinaryOp, Bindings, Expr, UnaryOp, Value};
use crate::parse::java;

/// An expression that cannot be evaluated on a row (an operator or function given values it
/// does not take).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

pub(super) type EvalResult<'b> = Result<Value<'b>, EvalError>;

/// Evaluates `expr` on one row.
pub(super) fn eval<'b>(expr: &'b Expr, bindings: &'b dyn Bindings) -> EvalResult<'b> {
    Ok(match expr {
        Expr::Null => Value::Null,
        Expr::Long(n) => Value::Long(*n),
        Expr::Double(x) => Value::Double(*x),
        Expr::Str(s) => Value::Str(Cow::Borrowed(s)),
        Expr::Ident(name) => bindings.get(name),
        Expr::Unary(op, x) => unary(*op, eval(x, bindings)?),
        Expr::Binary(BinaryOp::And, x, y) => {
            let both = eval(x, bindings)?.as_bool() && eval(y, bindings)?.as_bool();
            Value::Long(both.into())
        }
        Expr::Binary(BinaryOp::Or, x, y) => {
            let either = eval(x, bindings)?.as_bool() || eval(y, bindings)?.as_bool();
            Value::Long(either.into())
        }
        Expr::Binary(op, x, y) => binary(*op, eval(x, bindings)?, eval(y, bindings)?)?,
        Expr::Call(function, args) => function.call(args, bindings)?,
        Expr::Time(time_fn, args) => time_fn.call(args, bindings)?,
    })
}

impl Value<'_> {
    /// The value as a long: a null is 0, a double is truncated, a string is parsed (0 when it
    /// is not a number).
    pub fn as_long(&self) -> i64 {
        match self {
            Value::Null => 0,
            Value::Long(n) => *n,
            Value::Double(x) => *x as i64,
            Value::Str(s) => parse_number(s).map_or(0, |v| v.as_long()),
        }
    }

    /// The value as a double (null and non-number strings as 0).
    pub fn as_double(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Long(n) => *n as f64,
            Value::Double(x) => *x,
            Value::Str(s) => parse_number(s).map_or(0.0, |v| v.as_double()),
        }
    }

    /// Truth: a number other than 0, a string equal to `true` in any case.
    pub fn as_bool(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Long(n) => *n != 0,
            Value::Double(x) => *x != 0.0,
            Value::Str(s) => s.eq_ignore_ascii_case("true"),
        }
    }

    /// The value as text, as Java's `String.valueOf` writes numbers; null stays null.
    pub fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Null => None,
            Value::Long(n) => Some(Cow::Owned(n.to_string())),
            Value::Double(x) => Some(Cow::Owned(java::double_to_string(*x))),
            Value::Str(s) => Some(Cow::Borrowed(s)),
        }
    }

    /// The value without borrows.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Long(n) => Value::Long(n),
            Value::Double(x) => Value::Double(x),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
        }
    }

    /// True for null and for the empty string (the same thing with default null handling).
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.is_empty(),
            _ => false,
        }
    }
}

/// A string read as a long, else as a double, as Druid's `ExprEval.computeNumber`.
pub(super) fn parse_number(s: &str) -> Option<Value<'static>> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(Value::Long(n));
    }
    let finite_or_named = s
        .bytes()
        .all(|b| b.is_ascii_digit() || b".+-eE".contains(&b))
        || matches!(s, "NaN" | "Infinity" | "-Infinity" | "+Infinity");
    finite_or_named
        .then(|| s.replace("Infinity", "inf").parse::<f64>().ok())
        .flatten()
        .map(Value::Double)
}

fn unary(op: UnaryOp, value: Value<'_>) -> Value<'static> {
    match (op, value) {
        (UnaryOp::Not, value) => Value::Long((!value.as_bool()).into()),
        (UnaryOp::Neg, Value::Null) => Value::Null,
        (UnaryOp::Neg, Value::Long(n)) => Value::Long(n.wrapping_neg()),
        (UnaryOp::Neg, Value::Double(x)) => Value::Double(-x),
        (UnaryOp::Neg, Value::Str(s)) => match parse_number(&s) {
            Some(number) => unary(UnaryOp::Neg, number),
            None => Value::Null,
        },
    }
}

/// The type two operands are combined in (Druid's `ExpressionTypeConversion.autoDetect`; a
/// null is a string-typed null).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Long,
    Double,
}

fn kind_of(value: &Value<'_>) -> Kind {
    match value {
        Value::Null | Value::Str(_) => Kind::Str,
        Value::Long(_) => Kind::Long,
        Value::Double(_) => Kind::Double,
    }
}

fn operand_kind(left: &Value<'_>, right: &Value<'_>) -> Kind {
    let (l, r) = (kind_of(left), kind_of(right));
    if l == Kind::Str && r == Kind::Str {
        return Kind::Str;
    }
    let l = if matches!(left, Value::Null) { r } else { l };
    let r = if matches!(right, Value::Null) { l } else { r };
    if l == Kind::Long && r == Kind::Long {
        Kind::Long
    } else {
        Kind::Double
    }
}

fn binary(op: BinaryOp, left: Value<'_>, right: Value<'_>) -> EvalResult<'static> {
    match operand_kind(&left, &right) {
        Kind::Str => strings(op, left.as_text(), right.as_text()),
        Kind::Long => Ok(longs(op, left.as_long(), right.as_long())),
        Kind::Double => Ok(doubles(op, left.as_double(), right.as_double())),
    }
}

/// `x == y` with the operators' type rules (`case_simple`).
pub(super) fn binary_eq(left: Value<'_>, right: Value<'_>) -> bool {
    binary(BinaryOp::Eq, left, right).is_ok_and(|v| v.as_bool())
}

fn compare(op: BinaryOp, ordering: Ordering) -> Value<'static> {
    let result = match op {
        BinaryOp::Lt => ordering == Ordering::Less,
        BinaryOp::Le => ordering != Ordering::Greater,
        BinaryOp::Gt => ordering == Ordering::Greater,
        BinaryOp::Ge => ordering != Ordering::Less,
        BinaryOp::Eq => ordering == Ordering::Equal,
        _ => ordering != Ordering::Equal,
    };
    Value::Long(result.into())
}

fn strings(
    op: BinaryOp,
    left: Option<Cow<'_, str>>,
    right: Option<Cow<'_, str>>,
) -> EvalResult<'static> {
    match op {
        BinaryOp::Add => {
            let mut out = left.unwrap_or_default().into_owned();
            out.push_str(right.as_deref().unwrap_or(""));
            Ok(Value::Str(Cow::Owned(out)))
        }
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne => {
            // Nulls first, then Java's string order.
            let ordering = match (left.as_deref(), right.as_deref()) {
                (Some(l), Some(r)) => crate::parse::java_str_cmp(l, r),
                (l, r) => l.is_some().cmp(&r.is_some()),
            };
            Ok(compare(op, ordering))
        }
        other => Err(EvalError(format!(
            "operator {other:?} does not take two strings"
        ))),
    }
}

fn longs(op: BinaryOp, l: i64, r: i64) -> Value<'static> {
    Value::Long(match op {
        BinaryOp::Add => l.wrapping_add(r),
        BinaryOp::Sub => l.wrapping_sub(r),
        BinaryOp::Mul => l.wrapping_mul(r),
        BinaryOp::Div | BinaryOp::Mod if r == 0 => return Value::Null,
        BinaryOp::Div => l.wrapping_div(r),
        BinaryOp::Mod => l.wrapping_rem(r),
        BinaryOp::Pow => match u32::try_from(r) {
            Ok(exponent) => l.wrapping_pow(exponent),
            Err(_) => return Value::Null,
        },
        cmp => return compare(cmp, l.cmp(&r)),
    })
}

fn doubles(op: BinaryOp, l: f64, r: f64) -> Value<'static> {
    Value::Double(match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Mod => l % r,
        BinaryOp::Pow => l.powf(r),
        cmp => {
            // Java's primitive comparisons: every comparison with NaN is false but `!=`.
            return match l.partial_cmp(&r) {
                Some(ordering) => compare(cmp, ordering),
                None => Value::Long((cmp == BinaryOp::Ne).into()),
            };
        }
    })
}
