//! [`AggValue`]: an aggregated value (intermediate form), how two of them combine across
//! hydrants and segments, and how they are written as JSON (finalized or intermediate).

use base64::Engine as _;
use serde_json::{Value, json};

use super::num::Num;
use super::spec::{AggKind, AggSpec, NumOp, NumType};
use crate::hll::HyperLogLogCollector;
use crate::query::exec::cells::{double_json, float_json};

/// An aggregated value.
#[derive(Debug, Clone)]
pub enum AggValue {
    /// A long.
    Long(i64),
    /// A double.
    Double(f64),
    /// A float.
    Float(f32),
    /// A long with the time of its row (first/last).
    TimedLong(i64, i64),
    /// A double with the time of its row.
    TimedDouble(i64, f64),
    /// A float with the time of its row.
    TimedFloat(i64, f32),
    /// A string with the time of its row.
    TimedStr(i64, Option<String>),
    /// A HyperLogLog collector.
    Hll(Box<HyperLogLogCollector>),
}

impl AggValue {
    /// Returns the value of an aggregator that saw no rows.
    pub fn initial(kind: &AggKind) -> AggValue {
        match kind {
            AggKind::Count => AggValue::Long(0),
            AggKind::Numeric(t, op) => match op {
                NumOp::Sum => zero(*t),
                NumOp::Min => match t {
                    NumType::Long => AggValue::Long(i64::MAX),
                    NumType::Double => AggValue::Double(f64::INFINITY),
                    NumType::Float => AggValue::Float(f32::INFINITY),
                },
                NumOp::Max => match t {
                    NumType::Long => AggValue::Long(i64::MIN),
                    NumType::Double => AggValue::Double(f64::NEG_INFINITY),
                    NumType::Float => AggValue::Float(f32::NEG_INFINITY),
                },
                NumOp::First => timed(*t, i64::MAX),
                NumOp::Last => timed(*t, i64::MIN),
            },
            AggKind::StringFirstLast { last, .. } => {
                AggValue::TimedStr(if *last { i64::MIN } else { i64::MAX }, None)
            }
            AggKind::HyperUnique { .. } | AggKind::Cardinality { .. } => {
                AggValue::Hll(Box::default())
            }
        }
    }

    /// Combines `other` into this value (both of aggregator `kind`).
    pub fn combine(&mut self, other: &AggValue, kind: &AggKind) {
        use AggValue::*;
        let op = match kind {
            AggKind::Count => NumOp::Sum,
            AggKind::Numeric(_, op) => *op,
            AggKind::StringFirstLast { last: false, .. } => NumOp::First,
            AggKind::StringFirstLast { last: true, .. } => NumOp::Last,
            AggKind::HyperUnique { .. } | AggKind::Cardinality { .. } => NumOp::Sum,
        };
        match (self, other) {
            (Long(a), Long(b)) => *a = fold(op, *a, *b),
            (Double(a), Double(b)) => *a = fold(op, *a, *b),
            (Float(a), Float(b)) => *a = fold(op, *a, *b),
            (Hll(a), Hll(b)) => a.fold(b),
            (this, other) => {
                let (this_time, other_time) = (this.time(), other.time());
                let take = match op {
                    NumOp::First => other_time < this_time,
                    NumOp::Last => other_time > this_time,
                    _ => false,
                };
                if take {
                    *this = other.clone();
                }
            }
        }
    }

    fn time(&self) -> i64 {
        match self {
            AggValue::TimedLong(t, _)
            | AggValue::TimedDouble(t, _)
            | AggValue::TimedFloat(t, _)
            | AggValue::TimedStr(t, _) => *t,
            _ => 0,
        }
    }

    /// Returns the value as a double (estimates for collectors; 0 for strings).
    pub fn as_f64(&self) -> f64 {
        match self {
            AggValue::Long(v) | AggValue::TimedLong(_, v) => *v as f64,
            AggValue::Double(v) | AggValue::TimedDouble(_, v) => *v,
            AggValue::Float(v) | AggValue::TimedFloat(_, v) => *v as f64,
            AggValue::TimedStr(_, s) => s.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0.0),
            AggValue::Hll(c) => c.estimate(),
        }
    }

    /// Returns the finalized value (what a client sees), as JSON.
    pub fn final_json(&self, spec: &AggSpec) -> Value {
        match self {
            AggValue::Long(v) | AggValue::TimedLong(_, v) => Value::from(*v),
            AggValue::Double(v) | AggValue::TimedDouble(_, v) => double_json(*v),
            AggValue::Float(v) | AggValue::TimedFloat(_, v) => float_json(*v),
            AggValue::TimedStr(_, s) => s.clone().map_or(Value::Null, Value::String),
            AggValue::Hll(c) => {
                let round = matches!(
                    spec.kind,
                    AggKind::HyperUnique { round: true } | AggKind::Cardinality { round: true, .. }
                );
                estimate_json(c.estimate(), round)
            }
        }
    }

    /// Returns the intermediate value a broker merges, as JSON: first/last as `{"lhs","rhs"}`
    /// pairs and collectors as base64 bytes.
    pub fn intermediate_json(&self) -> Value {
        match self {
            AggValue::Long(v) => Value::from(*v),
            AggValue::Double(v) => double_json(*v),
            AggValue::Float(v) => float_json(*v),
            AggValue::TimedLong(t, v) => json!({"lhs": t, "rhs": v}),
            AggValue::TimedDouble(t, v) => json!({"lhs": t, "rhs": double_json(*v)}),
            AggValue::TimedFloat(t, v) => json!({"lhs": t, "rhs": float_json(*v)}),
            AggValue::TimedStr(t, s) => json!({"lhs": t, "rhs": s}),
            AggValue::Hll(c) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(c.to_bytes()))
            }
        }
    }

    /// Returns the JSON of the value, finalized or not.
    pub fn to_json(&self, spec: &AggSpec, finalize: bool) -> Value {
        if finalize {
            self.final_json(spec)
        } else {
            self.intermediate_json()
        }
    }
}

/// Returns a cardinality estimate as Druid reports it (a double, or a long when rounded).
pub fn estimate_json(estimate: f64, round: bool) -> Value {
    if round {
        Value::from(estimate.round() as i64)
    } else {
        double_json(estimate)
    }
}

fn zero(t: NumType) -> AggValue {
    match t {
        NumType::Long => AggValue::Long(0),
        NumType::Double => AggValue::Double(0.0),
        NumType::Float => AggValue::Float(0.0),
    }
}

fn timed(t: NumType, time: i64) -> AggValue {
    match t {
        NumType::Long => AggValue::TimedLong(time, 0),
        NumType::Double => AggValue::TimedDouble(time, 0.0),
        NumType::Float => AggValue::TimedFloat(time, 0.0),
    }
}

/// Folds two numbers with a sum (wrapping for longs, as Java does), min or max.
pub fn fold<T: Num>(op: NumOp, a: T, b: T) -> T {
    match op {
        NumOp::Sum => a.add(b),
        NumOp::Min => {
            if b < a {
                b
            } else {
                a
            }
        }
        NumOp::Max => {
            if b > a {
                b
            } else {
                a
            }
        }
        NumOp::First | NumOp::Last => a,
    }
}

/// Returns the initial values of every aggregator.
pub fn initial_values(specs: &[AggSpec]) -> Vec<AggValue> {
    specs.iter().map(|s| AggValue::initial(&s.kind)).collect()
}

/// Combines a row of values into another, aggregator by aggregator.
pub fn combine_values(into: &mut [AggValue], other: &[AggValue], specs: &[AggSpec]) {
    for ((a, b), spec) in into.iter_mut().zip(other).zip(specs) {
        a.combine(b, &spec.kind);
    }
}
