//! The filters of `filtered` aggregators and of the `transformSpec`, evaluated on one parsed event (Druid's value matchers
//! over the input row): a column's value is its raw input field (the parser routes every column
//! a filter reads as a field; `__time` is the event time). A list matches when any of its values
//! does, and an empty list as null does; numbers meet numeric predicates as numbers.

use std::borrow::Cow;

use crate::config::AggregatorFilter;
use crate::expr::cells::Cell as ExprCell;
use crate::parse::{FieldValue, ParsedRow, RowSchema, java};
use crate::query::filter::Filter;

/// A filter with its columns resolved to the event's field slots.
#[derive(Debug, Clone)]
pub struct EventFilter {
    spec: AggregatorFilter,
    /// `(column, field slot)`; a column without a slot reads as null.
    slots: Vec<(String, usize)>,
}

impl PartialEq for EventFilter {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

/// One column's value in an event.
enum Cell<'r> {
    Null,
    Number(f64, String),
    Texts(Vec<Option<Cow<'r, str>>>),
}

impl EventFilter {
    /// Resolves the filter's columns against the event layout.
    pub fn new(spec: &AggregatorFilter, schema: &RowSchema) -> EventFilter {
        let mut columns = Vec::new();
        spec.filter.columns(&mut columns);
        let slots = columns
            .into_iter()
            .filter_map(|c| schema.field_slot(&c).map(|slot| (c, slot)))
            .collect();
        EventFilter {
            spec: spec.clone(),
            slots,
        }
    }

    /// True when the event passes the filter.
    pub fn matches(&self, row: &ParsedRow<'_>) -> bool {
        self.eval(&self.spec.filter, row)
    }

    fn eval(&self, filter: &Filter, row: &ParsedRow<'_>) -> bool {
        match filter {
            Filter::True => true,
            Filter::False => false,
            Filter::And(children) => children.iter().all(|c| self.eval(c, row)),
            Filter::Or(children) => children.iter().any(|c| self.eval(c, row)),
            Filter::Not(child) => !self.eval(child, row),
            Filter::Value {
                dimension,
                extraction,
                predicate,
            } => match (self.cell(dimension, row), extraction) {
                (Cell::Number(x, text), None) if predicate.is_numeric() => {
                    predicate.matches_number(x, &text)
                }
                (cell, extraction) => texts(cell).iter().any(|value| {
                    let value = value.as_deref();
                    match extraction {
                        Some(f) => predicate.matches(f.apply(value).as_deref()),
                        None => predicate.matches(value),
                    }
                }),
            },
            Filter::Interval {
                dimension,
                intervals,
                ..
            } => {
                let ms = match self.cell(dimension, row) {
                    Cell::Number(x, _) => Some(x as i64),
                    Cell::Texts(values) => values.first().and_then(|v| v.as_deref()?.parse().ok()),
                    Cell::Null => None,
                };
                ms.is_some_and(|ms| intervals.iter().any(|i| i.contains(ms)))
            }
            Filter::ColumnComparison(dims) => {
                let values: Vec<Option<String>> = dims
                    .iter()
                    .map(|d| {
                        let cell = texts(self.cell(&d.dimension, row));
                        let value = cell.first().and_then(|v| v.as_deref());
                        match &d.extraction {
                            Some(f) => f.apply(value),
                            None => value.map(str::to_string),
                        }
                    })
                    .collect();
                values.windows(2).all(|w| w[0] == w[1])
            }
            Filter::Expression { expr, columns } => {
                let cells: Vec<ExprCell<'_>> = columns
                    .iter()
                    .map(|c| match c.as_str() {
                        "__time" => ExprCell::One(crate::expr::Value::Long(row.timestamp_ms)),
                        _ => crate::parse::transform::field_cell(
                            self.slot(c).and_then(|s| row.fields.get(s)),
                        ),
                    })
                    .collect();
                crate::query::filter::expression_matches(expr, columns, &cells)
            }
        }
    }

    fn slot(&self, column: &str) -> Option<usize> {
        self.slots
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, s)| *s)
    }

    fn cell<'r>(&self, column: &str, row: &'r ParsedRow<'_>) -> Cell<'r> {
        if column == "__time" {
            let ms = row.timestamp_ms;
            return Cell::Number(ms as f64, ms.to_string());
        }
        match self.slot(column).and_then(|s| row.fields.get(s)) {
            None | Some(FieldValue::Null) => Cell::Null,
            Some(FieldValue::Long(n)) => Cell::Number(*n as f64, n.to_string()),
            Some(FieldValue::Double(x)) => Cell::Number(*x, java::double_to_string(*x)),
            Some(FieldValue::Str(s)) => Cell::Texts(vec![Some(Cow::Borrowed(s.as_ref()))]),
            Some(FieldValue::List(values)) => Cell::Texts(
                values
                    .iter()
                    .map(|v| v.as_deref().map(Cow::Borrowed))
                    .collect(),
            ),
        }
    }
}

/// The cell's values as text (null, and an empty list, as one null).
fn texts(cell: Cell<'_>) -> Vec<Option<Cow<'_, str>>> {
    match cell {
        Cell::Null => vec![None],
        Cell::Number(_, text) => vec![Some(Cow::Owned(text))],
        Cell::Texts(values) if values.is_empty() => vec![None],
        Cell::Texts(values) => values,
    }
}
