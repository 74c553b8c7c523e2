//! Human-readable dumps of a segment (directory or `index.zip`), for `rtnode dump-segment`.
//!
//! ```text
//! dump_rows:     one JSON object per line, keys `__time` (epoch ms), dimensions in segment
//!                order (string, null, or an array for multi-value columns), metrics
//!                (numbers; complex values as base64 of their bytes, null when empty)
//! dump_metadata: one JSON object: interval, numRows, dimensions, metrics, metadata, and per
//!                column its type, multi-value flag, whether it has bitmap indexes,
//!                cardinality and size in bytes
//! ```

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::error::SegmentError;
use super::reader::{Column, Segment};

fn out_err(error: std::io::Error) -> SegmentError {
    SegmentError::io("<dump output>", error)
}

/// Returns the JSON value of `column` at `row`; `ids` is scratch space.
pub fn cell_json(column: &Column, row: u32, ids: &mut Vec<u32>) -> Result<Value, SegmentError> {
    Ok(match column {
        Column::Long(c) => Value::from(c.get(row)?),
        Column::Float(c) => json_f64(c.get(row)? as f64),
        Column::Double(c) => json_f64(c.get(row)?),
        Column::Complex(c) => {
            let bytes = c.get(row)?;
            if bytes.is_empty() {
                Value::Null
            } else {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
        Column::String(c) => {
            c.row_ids(row, ids)?;
            let dictionary = c.dictionary();
            if c.is_multi_value() {
                let values: Result<Vec<Value>, SegmentError> = ids
                    .iter()
                    .map(|id| Ok(dictionary.get(*id)?.map(Value::from).unwrap_or(Value::Null)))
                    .collect();
                Value::Array(values?)
            } else {
                dictionary
                    .get(ids[0])?
                    .map(Value::from)
                    .unwrap_or(Value::Null)
            }
        }
    })
}

fn json_f64(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Writes one JSON object per row of the segment at `path`.
pub fn dump_rows(path: &Path, out: &mut dyn Write) -> Result<(), SegmentError> {
    let segment = Segment::open_path(path)?;
    write_rows(&segment, out)
}

/// Writes one JSON object per row of an open segment.
pub fn write_rows(segment: &Segment, out: &mut dyn Write) -> Result<(), SegmentError> {
    let names: Vec<String> = segment
        .dimension_names()
        .iter()
        .chain(segment.metric_names())
        .cloned()
        .collect();
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        match segment.column(name)? {
            Some(column) => columns.push((name.clone(), column)),
            None => {
                return Err(SegmentError::corrupt_file(
                    segment.label(),
                    format!("column `{name}` listed but missing"),
                ));
            }
        }
    }
    let time = segment.time_column();
    let mut ids = Vec::new();
    for row in 0..segment.num_rows() {
        let mut object = Map::new();
        object.insert("__time".into(), time.get(row)?.into());
        for (name, column) in &columns {
            object.insert(name.clone(), cell_json(column, row, &mut ids)?);
        }
        serde_json::to_writer(&mut *out, &Value::Object(object)).map_err(|e| out_err(e.into()))?;
        out.write_all(b"\n").map_err(out_err)?;
    }
    Ok(())
}

/// Writes a JSON summary of the segment at `path`.
pub fn dump_metadata(path: &Path, out: &mut dyn Write) -> Result<(), SegmentError> {
    let segment = Segment::open_path(path)?;
    let mut columns = Map::new();
    let names = std::iter::once("__time".to_string()).chain(segment.column_names().iter().cloned());
    for name in names {
        let descriptor = segment.column_descriptor(&name)?;
        let column = segment.column(&name)?;
        let (Some(descriptor), Some(column)) = (descriptor, column) else {
            continue;
        };
        let (type_name, cardinality, bitmaps) = match &column {
            Column::String(c) => (
                "STRING".to_string(),
                Value::from(c.dictionary().len()),
                c.has_bitmap_index(),
            ),
            Column::Complex(c) => (c.type_name().to_string(), Value::Null, false),
            _ => (descriptor.value_type.name().to_string(), Value::Null, false),
        };
        let size = segment.column_size_bytes(&name).unwrap_or(0);
        columns.insert(
            name,
            json!({"type": type_name, "hasMultipleValues": descriptor.has_multiple_values, "hasBitmapIndexes": bitmaps, "cardinality": cardinality, "size": size}),
        );
    }
    let summary = json!({
        "interval": segment.interval().to_string(),
        "numRows": segment.num_rows(),
        "dimensions": segment.dimension_names(),
        "metrics": segment.metric_names(),
        "columns": Value::Object(columns),
        "metadata": segment.metadata().map(|m| m.to_json()).unwrap_or(Value::Null),
    });
    serde_json::to_writer(&mut *out, &summary).map_err(|e| out_err(e.into()))?;
    out.write_all(b"\n").map_err(out_err)
}
