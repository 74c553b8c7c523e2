//! Evaluating a [`Filter`] on one segment into the set of matching rows.
//!
//! String columns use their bitmap indexes: the predicate runs once per dictionary value (a
//! binary search for `selector`, `in` and lexicographic `bound`), and the result is the union of
//! the matching values' bitmaps. Numeric columns, `__time` with extraction functions and column
//! comparisons are evaluated row by row. `None` stands for "every row".

use std::cmp::Ordering;

use roaring::{MultiOps, RoaringBitmap};

use super::{Filter, StringOrdering, ValuePredicate};
use crate::expr::cells::Cell;
use crate::expr::{Expr, Value as ExprValue};
use crate::query::error::QueryResult;
use crate::query::exec::cells::{cell_texts, expr_cell, java_double_text};
use crate::query::exec::view::SegmentView;
use crate::query::spec::ExtractionFn;
use crate::segment::Column;
use crate::segment::reader::StringColumn;
use crate::segment::string_column::java_opt_cmp;
use crate::time::Interval;

/// Matching rows: `None` means every row.
pub type RowSet = Option<RoaringBitmap>;

/// Evaluates `filter` on the view's segment.
pub fn evaluate(filter: &Filter, view: &mut SegmentView<'_>) -> QueryResult<RowSet> {
    view.cancel.check()?;
    let n = view.num_rows();
    match filter {
        Filter::True => Ok(None),
        Filter::False => Ok(Some(RoaringBitmap::new())),
        Filter::And(children) => {
            let mut acc: RowSet = None;
            for child in children {
                if let Some(bits) = evaluate(child, view)? {
                    acc = Some(match acc {
                        None => bits,
                        Some(a) => a & bits,
                    });
                }
                if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
                    break;
                }
            }
            Ok(acc)
        }
        Filter::Or(children) => {
            let mut parts = Vec::with_capacity(children.len());
            for child in children {
                match evaluate(child, view)? {
                    None => return Ok(None),
                    Some(bits) => parts.push(bits),
                }
            }
            Ok(Some(parts.union()))
        }
        Filter::Not(child) => Ok(Some(match evaluate(child, view)? {
            None => RoaringBitmap::new(),
            Some(bits) => {
                let mut all = RoaringBitmap::new();
                all.insert_range(0..n);
                all - bits
            }
        })),
        Filter::Value {
            dimension,
            extraction,
            predicate,
        } => value_rows(view, dimension, extraction.as_ref(), predicate),
        Filter::Interval {
            dimension,
            extraction,
            intervals,
        } => interval_rows(view, dimension, extraction.as_ref(), intervals),
        Filter::ColumnComparison(dims) => {
            let mut columns = Vec::new();
            for d in dims {
                columns.push((view.column(&d.dimension)?, d.extraction.clone()));
            }
            scan_rows(view, |row, ids, texts| {
                let mut first: Option<Vec<Option<String>>> = None;
                for (column, extraction) in &columns {
                    cell_texts(column.as_ref(), row, ids, texts)?;
                    let values: Vec<Option<String>> = texts
                        .iter()
                        .map(|t| match extraction {
                            Some(f) => f.apply(t.as_deref()),
                            None => t.clone().filter(|s| !s.is_empty()),
                        })
                        .collect();
                    match &first {
                        None => first = Some(values),
                        Some(f) if *f != values => return Ok(false),
                        Some(_) => {}
                    }
                }
                Ok(true)
            })
        }
        Filter::Expression { expr, columns } => expression_rows(view, expr, columns),
    }
}

/// Rows where the expression is true, evaluated row by row.
fn expression_rows(
    view: &mut SegmentView<'_>,
    expr: &Expr,
    names: &[String],
) -> QueryResult<RowSet> {
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        columns.push(match name.as_str() {
            "__time" => None,
            _ => Some(view.column(name)?),
        });
    }
    let view = &*view;
    let mut cells = Vec::with_capacity(names.len());
    scan_rows(view, |row, ids, _| {
        cells.clear();
        for column in &columns {
            cells.push(match column {
                None => Cell::One(ExprValue::Long(view.time_at(row)?)),
                Some(column) => expr_cell(column.as_ref(), row, ids)?,
            });
        }
        Ok(super::expression_matches(expr, names, &cells))
    })
}

fn all_or_none(matches: bool) -> RowSet {
    if matches {
        None
    } else {
        Some(RoaringBitmap::new())
    }
}

fn value_rows(
    view: &mut SegmentView<'_>,
    dimension: &str,
    extraction: Option<&ExtractionFn>,
    predicate: &ValuePredicate,
) -> QueryResult<RowSet> {
    let column = view.column(dimension)?;
    match column {
        None | Some(Column::Complex(_)) => {
            let value = extraction.and_then(|f| f.apply(None));
            Ok(all_or_none(predicate.matches(value.as_deref())))
        }
        Some(Column::String(col)) => {
            let ids = matching_ids(&col, extraction, predicate)?;
            if ids.len() as u32 == col.dictionary().len() && !col.is_multi_value() {
                return Ok(None);
            }
            let bitmaps = ids
                .iter()
                .map(|id| col.bitmap(*id))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(bitmaps.union()))
        }
        Some(numeric) => {
            let is_time = dimension == "__time";
            scan_numeric(view, &numeric, |value, text| match extraction {
                Some(f) if is_time => predicate.matches(f.apply_time(value as i64).as_deref()),
                Some(f) => predicate.matches(f.apply(Some(text)).as_deref()),
                None => predicate.matches_number(value, text),
            })
        }
    }
}

/// Returns the dictionary ids of `col` whose (extracted) value satisfies `predicate`.
pub fn matching_ids(
    col: &StringColumn,
    extraction: Option<&ExtractionFn>,
    predicate: &ValuePredicate,
) -> QueryResult<Vec<u32>> {
    let dictionary = col.dictionary();
    if extraction.is_none() {
        match predicate {
            ValuePredicate::Equals(value) => {
                return Ok(dictionary.index_of(value.as_deref())?.into_iter().collect());
            }
            ValuePredicate::In(values) => {
                let mut ids = Vec::new();
                for value in values {
                    ids.extend(dictionary.index_of(value.as_deref())?);
                }
                ids.sort_unstable();
                ids.dedup();
                return Ok(ids);
            }
            ValuePredicate::Bound {
                lower,
                upper,
                ordering: StringOrdering::Lexicographic,
            } => {
                let start = match lower {
                    None => 0,
                    Some(l) => first_id(col, |v| {
                        let o = java_opt_cmp(v, Some(l.value.as_str()).filter(|s| !s.is_empty()));
                        o == Ordering::Greater || (o == Ordering::Equal && !l.strict)
                    })?,
                };
                let end = match upper {
                    None => dictionary.len(),
                    Some(u) => first_id(col, |v| {
                        let o = java_opt_cmp(v, Some(u.value.as_str()).filter(|s| !s.is_empty()));
                        o == Ordering::Greater || (o == Ordering::Equal && u.strict)
                    })?,
                };
                return Ok((start..end.max(start)).collect());
            }
            _ => {}
        }
    }
    let mut ids = Vec::new();
    for id in 0..dictionary.len() {
        let value = dictionary.get(id)?;
        let matched = match extraction {
            Some(f) => predicate.matches(f.apply(value).as_deref()),
            None => predicate.matches(value),
        };
        if matched {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Returns the first dictionary id whose value satisfies the monotone `above`.
fn first_id(col: &StringColumn, above: impl Fn(Option<&str>) -> bool) -> QueryResult<u32> {
    let dictionary = col.dictionary();
    let (mut low, mut high) = (0, dictionary.len());
    while low < high {
        let mid = low + (high - low) / 2;
        if above(dictionary.get(mid)?) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Ok(low)
}

fn interval_rows(
    view: &mut SegmentView<'_>,
    dimension: &str,
    extraction: Option<&ExtractionFn>,
    intervals: &[Interval],
) -> QueryResult<RowSet> {
    if dimension == "__time" && extraction.is_none() {
        let mut bits = RoaringBitmap::new();
        for interval in intervals {
            bits.insert_range(view.rows_in(interval)?);
        }
        return Ok(Some(bits));
    }
    let contains = |ms: i64| intervals.iter().any(|i| i.contains(ms));
    match view.column(dimension)? {
        None | Some(Column::Complex(_)) => Ok(all_or_none(false)),
        Some(Column::String(col)) => {
            let mut ids = Vec::new();
            for id in 0..col.dictionary().len() {
                let value = col.dictionary().get(id)?;
                let value = match extraction {
                    Some(f) => f.apply(value),
                    None => value.map(str::to_string),
                };
                if value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(contains)
                {
                    ids.push(id);
                }
            }
            let bitmaps = ids
                .iter()
                .map(|id| col.bitmap(*id))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(bitmaps.union()))
        }
        Some(numeric) => scan_numeric(view, &numeric, |value, _| match extraction {
            Some(f) => f
                .apply_time(value as i64)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(contains),
            None => contains(value as i64),
        }),
    }
}

/// Scans a numeric column, keeping rows whose `(value, text)` satisfies `keep`.
fn scan_numeric(
    view: &SegmentView<'_>,
    column: &Column,
    mut keep: impl FnMut(f64, &str) -> bool,
) -> QueryResult<RowSet> {
    let mut bits = RoaringBitmap::new();
    let mut text = String::new();
    let mut check = |row: u32, value: f64, as_long: Option<i64>| {
        text.clear();
        match as_long {
            Some(l) => text.push_str(&l.to_string()),
            None => text.push_str(&java_double_text(value)),
        }
        if keep(value, &text) {
            bits.insert(row);
        }
    };
    match column {
        Column::Long(c) => c.for_each_block(0, |rows, values| {
            for (row, v) in rows.zip(values) {
                check(row, *v as f64, Some(*v));
            }
        })?,
        Column::Float(c) => c.for_each_block(0, |rows, values| {
            for (row, v) in rows.zip(values) {
                check(row, format!("{v}").parse().unwrap_or(0.0), None);
            }
        })?,
        Column::Double(c) => c.for_each_block(0, |rows, values| {
            for (row, v) in rows.zip(values) {
                check(row, *v, None);
            }
        })?,
        Column::String(_) | Column::Complex(_) => {}
    }
    view.cancel.check()?;
    Ok(Some(bits))
}

/// Scans every row with a per-row test (slow path).
fn scan_rows(
    view: &SegmentView<'_>,
    mut keep: impl FnMut(u32, &mut Vec<u32>, &mut Vec<Option<String>>) -> QueryResult<bool>,
) -> QueryResult<RowSet> {
    let mut bits = RoaringBitmap::new();
    let (mut ids, mut texts) = (Vec::new(), Vec::new());
    for row in 0..view.num_rows() {
        if row % crate::query::exec::view::CHUNK_ROWS == 0 {
            view.cancel.check()?;
        }
        if keep(row, &mut ids, &mut texts)? {
            bits.insert(row);
        }
    }
    Ok(Some(bits))
}
