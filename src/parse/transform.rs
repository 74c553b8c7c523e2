//! The `transformSpec`'s expression transforms, applied to each parsed row (Druid's
//! `TransformedInputRow`).
//!
//! Every transform reads the event as parsed (none sees another's result): all are evaluated
//! first, then each result replaces its column — the dimension of that name (when the row has
//! it), the metric input field of that name (what aggregators and the `transformSpec` filter
//! read), or the event time for `__time`. The columns an expression reads are routed by the
//! parser as input fields, like a filter's. A column holding several values (a list) is read
//! value by value: the expression is evaluated once per value and gives a list, as Druid maps
//! expressions over multi-value columns; when an expression reads two such columns, they read
//! as null.

use std::borrow::Cow;

use super::{DimValue, FieldValue, ParseError, ParsedRow, RowSchema, set_dim, set_field};
use crate::config::TransformSpec;
use crate::expr::cells::{Cell, eval_cells};
use crate::expr::{Expr, Value};

/// The transforms of one fire department, resolved against its row layout.
#[derive(Debug, Clone)]
pub struct RowTransformer {
    transforms: Vec<Transform>,
}

#[derive(Debug, Clone)]
struct Transform {
    name: String,
    expr: Expr,
    /// The columns the expression reads.
    names: Vec<String>,
    /// Their input field slots (`None` for `__time`).
    slots: Vec<Option<usize>>,
    /// The metric input field of the output column, if any.
    field: Option<usize>,
}

/// One transform's result, owned (the row is rewritten after every transform has run).
enum Output {
    One(Value<'static>),
    Many(Vec<Option<String>>),
}

/// The columns the transforms of `spec` read (each once; `__time` included).
pub fn input_columns(spec: &TransformSpec) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for transform in &spec.transforms {
        for name in Expr::parse(&transform.expression)
            .map(|e| e.identifiers())
            .unwrap_or_default()
        {
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
    }
    columns
}

/// An input field's value as an expression reads it.
pub fn field_cell<'r>(value: Option<&'r FieldValue<'_>>) -> Cell<'r> {
    match value {
        None | Some(FieldValue::Null) => Cell::One(Value::Null),
        Some(FieldValue::Long(n)) => Cell::One(Value::Long(*n)),
        Some(FieldValue::Double(x)) => Cell::One(Value::Double(*x)),
        Some(FieldValue::Str(s)) => Cell::One(Value::Str(Cow::Borrowed(s))),
        Some(FieldValue::List(values)) => Cell::Many(
            values
                .iter()
                .map(|v| v.as_deref().map(Cow::Borrowed))
                .collect(),
        ),
    }
}

impl RowTransformer {
    /// Resolves the transforms of `spec`; `None` when there are none. Their input columns
    /// must be input fields of `schema` ([`RowSchema::new`] routes them).
    pub fn new(spec: &TransformSpec, schema: &RowSchema) -> Result<Option<RowTransformer>, String> {
        if spec.transforms.is_empty() {
            return Ok(None);
        }
        let transforms = spec
            .transforms
            .iter()
            .map(|t| {
                let expr = Expr::parse(&t.expression)
                    .map_err(|e| format!("transform `{}`: {e}", t.name))?;
                let names = expr.identifiers();
                let slots = names.iter().map(|n| schema.field_slot(n)).collect();
                Ok(Transform {
                    name: t.name.clone(),
                    expr,
                    names,
                    slots,
                    field: schema.field_slot(&t.name),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Some(RowTransformer { transforms }))
    }

    /// Evaluates every transform on `row`, then writes the results into it.
    pub fn apply(&self, schema: &RowSchema, row: &mut ParsedRow<'_>) -> Result<(), ParseError> {
        let outputs = self
            .transforms
            .iter()
            .map(|t| {
                t.evaluate(row)
                    .map_err(|e| ParseError::Transform(format!("transform `{}`: {e}", t.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (transform, output) in self.transforms.iter().zip(outputs) {
            transform.write(output, schema, row)?;
        }
        Ok(())
    }
}

impl Transform {
    fn evaluate(&self, row: &ParsedRow<'_>) -> Result<Output, crate::expr::EvalError> {
        let cells: Vec<Cell<'_>> = self
            .names
            .iter()
            .zip(&self.slots)
            .map(|(name, slot)| match name.as_str() {
                "__time" => Cell::One(Value::Long(row.timestamp_ms)),
                _ => field_cell(slot.and_then(|s| row.fields.get(s))),
            })
            .collect();
        let mut results = Vec::with_capacity(1);
        eval_cells(&self.expr, &self.names, &cells, |v| {
            results.push(v.into_owned())
        })?;
        let mapped = cells
            .iter()
            .filter(|c| matches!(c, Cell::Many(v) if v.len() > 1))
            .count()
            == 1;
        Ok(if mapped {
            Output::Many(
                results
                    .iter()
                    .map(|v| v.as_text().map(Cow::into_owned))
                    .collect(),
            )
        } else {
            Output::One(results.pop().unwrap_or(Value::Null))
        })
    }

    fn write(
        &self,
        output: Output,
        schema: &RowSchema,
        row: &mut ParsedRow<'_>,
    ) -> Result<(), ParseError> {
        if self.name == "__time" {
            row.timestamp_ms = match output {
                Output::One(Value::Long(ms)) => ms,
                Output::One(Value::Double(x)) if x.is_finite() => x as i64,
                Output::One(Value::Str(s)) if s.trim().parse::<i64>().is_ok() => {
                    s.trim().parse().unwrap_or(0)
                }
                _ => {
                    return Err(ParseError::Transform(
                        "transform `__time` gave no time in millis".into(),
                    ));
                }
            };
            return Ok(());
        }
        if let Some(slot) = schema
            .dimension_slot(&self.name)
            .filter(|s| *s < row.dims.len())
        {
            set_dim(&mut row.dims[slot], dim_value(&output));
        }
        if let Some(slot) = self.field {
            set_field(&mut row.fields[slot], field_value(output));
        }
        Ok(())
    }
}

fn dim_value(output: &Output) -> DimValue<'static> {
    match output {
        Output::One(value) => value.as_text().map_or(DimValue::Null, |s| {
            DimValue::One(Cow::Owned(s.into_owned()))
        }),
        Output::Many(values) => {
            DimValue::Many(values.iter().map(|v| v.clone().map(Cow::Owned)).collect())
        }
    }
}

fn field_value(output: Output) -> FieldValue<'static> {
    match output {
        Output::One(Value::Null) => FieldValue::Null,
        Output::One(Value::Long(n)) => FieldValue::Long(n),
        Output::One(Value::Double(x)) => FieldValue::Double(x),
        Output::One(Value::Str(s)) => FieldValue::Str(Cow::Owned(s.into_owned())),
        Output::Many(values) => {
            FieldValue::List(values.into_iter().map(|v| v.map(Cow::Owned)).collect())
        }
    }
}
