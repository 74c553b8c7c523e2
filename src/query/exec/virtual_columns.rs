//! Materializing a query's `virtualColumns` in one hydrant: the expression is evaluated on
//! every row (its inputs read like any column, other virtual columns included) and the values
//! are written, through the segment writer, as an in-memory column of the output type — a
//! string column with its dictionary, ids and bitmap indexes, or a long / float / double
//! column. The engines then read it like a stored column. A null number is 0 (Druid's default
//! null handling).

use std::collections::HashMap;

use crate::expr::Value;
use crate::expr::cells::{Cell, eval_cells};
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::cells::expr_cell;
use crate::query::exec::view::SegmentView;
use crate::query::spec::virtual_column::{OutputType, VirtualColumn};
use crate::segment::string_column::java_str_cmp;
use crate::segment::{
    Column, Dictionary, DimCell, DimensionKind, DimensionSchema, RowRef, Segment, SegmentOutput,
    SegmentSchema, SegmentWriter, WriteOptions,
};

/// The values of a virtual column, row by row.
enum Values {
    Texts(Vec<Vec<Option<String>>>),
    Numbers(Vec<Value<'static>>),
}

/// Builds `column` for the view's segment (`None` when every value is null: no column).
pub(super) fn materialize(
    view: &mut SegmentView<'_>,
    column: &VirtualColumn,
) -> QueryResult<Option<Column>> {
    let writer = match evaluate(view, column)? {
        Values::Texts(rows) => {
            let (dictionary, multi_value) = dictionary_of(&rows);
            let ids_of: HashMap<Option<String>, u32> =
                dictionary.0.iter().cloned().zip(0..).collect();
            let kind = DimensionKind::String;
            let mut writer = writer_for(view, column, kind, multi_value, Some(dictionary))?;
            let mut ids = Vec::new();
            for (row, values) in rows.iter().enumerate() {
                ids.clear();
                ids.extend(values.iter().map(|v| ids_of[v]));
                add_row(&mut writer, view, row, DimCell::Ids(&ids))?;
            }
            writer
        }
        Values::Numbers(numbers) => {
            let kind = match column.output_type {
                OutputType::Long => DimensionKind::Long,
                OutputType::Double => DimensionKind::Double,
                _ => DimensionKind::Float,
            };
            let mut writer = writer_for(view, column, kind, false, None)?;
            for (row, number) in numbers.iter().enumerate() {
                add_row(&mut writer, view, row, number_cell(number, kind))?;
            }
            writer
        }
    };
    let segment = Segment::from_written(writer.finish()?)?;
    Ok(segment.column(&column.name)?)
}

/// An in-memory segment writer for the one column.
fn writer_for(
    view: &SegmentView<'_>,
    column: &VirtualColumn,
    kind: DimensionKind,
    has_multiple_values: bool,
    dictionary_opt: Option<Dictionary>,
) -> QueryResult<SegmentWriter> {
    let schema = SegmentSchema {
        interval: view.segment.interval(),
        dimensions: vec![DimensionSchema {
            name: column.name.clone(),
            kind,
            has_multiple_values,
            bitmap_index: true,
        }],
        metrics: Vec::new(),
        metadata: None,
    };
    let options = WriteOptions::DRUID_DEFAULT;
    Ok(SegmentWriter::new(
        schema,
        vec![dictionary_opt],
        SegmentOutput::Memory,
        options,
    )?)
}

/// Adds row `row` of the view (its time) with the column's `cell`.
fn add_row(
    writer: &mut SegmentWriter,
    view: &SegmentView<'_>,
    row: usize,
    cell: DimCell<'_>,
) -> QueryResult<()> {
    let dims = [cell];
    writer.add_row(RowRef {
        time_ms: view.time_at(row as u32)?,
        dims: &dims,
        metrics: &[],
    })?;
    Ok(())
}

/// Evaluates the expression on every row of the view.
fn evaluate(view: &mut SegmentView<'_>, column: &VirtualColumn) -> QueryResult<Values> {
    let mut inputs = Vec::with_capacity(column.inputs.len());
    for name in &column.inputs {
        inputs.push(match name.as_str() {
            "__time" => None,
            _ => Some(view.column(name)?),
        });
    }
    let fail = |e: crate::expr::EvalError| {
        QueryError::invalid(format!("virtual column `{}`: {e}", column.name))
    };
    let strings = column.output_type == OutputType::String;
    let (mut texts, mut numbers) = (Vec::new(), Vec::new());
    let (mut ids, mut cells) = (Vec::new(), Vec::with_capacity(inputs.len()));
    for row in 0..view.num_rows() {
        if row % super::view::CHUNK_ROWS == 0 {
            view.cancel.check()?;
        }
        cells.clear();
        for input in &inputs {
            cells.push(match input {
                None => Cell::One(Value::Long(view.time_at(row)?)),
                Some(column) => expr_cell(column.as_ref(), row, &mut ids)?,
            });
        }
        let mut results: Vec<Value<'static>> = Vec::with_capacity(1);
        eval_cells(&column.expr, &column.inputs, &cells, |v| {
            results.push(v.into_owned())
        })
        .map_err(fail)?;
        match strings {
            true => texts.push(
                results
                    .iter()
                    .map(|v| {
                        v.as_text()
                            .map(|s| s.into_owned())
                            .filter(|s| !s.is_empty())
                    })
                    .collect(),
            ),
            false => numbers.push(results.into_iter().next().unwrap_or(Value::Null)),
        }
    }
    Ok(match strings {
        true => Values::Texts(texts),
        false => Values::Numbers(numbers),
    })
}

/// The sorted distinct values (null first when present), and whether a row holds several.
fn dictionary_of(rows: &[Vec<Option<String>>]) -> (Dictionary, bool) {
    let mut values: Vec<Option<String>> = rows.iter().flatten().cloned().collect();
    let has_null = values.iter().any(Option::is_none) || rows.iter().any(Vec::is_empty);
    let mut texts: Vec<String> = values.drain(..).flatten().collect();
    texts.sort_by(|a, b| java_str_cmp(a, b));
    texts.dedup();
    let dictionary = has_null
        .then_some(None)
        .into_iter()
        .chain(texts.into_iter().map(Some))
        .collect();
    (Dictionary(dictionary), rows.iter().any(|r| r.len() > 1))
}

fn number_cell(value: &Value<'_>, kind: DimensionKind) -> DimCell<'static> {
    match kind {
        DimensionKind::Long => DimCell::Long(value.as_long()),
        DimensionKind::Double => DimCell::Double(value.as_double()),
        _ => DimCell::Float(value.as_double() as f32),
    }
}
