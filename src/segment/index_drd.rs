//! `index.drd`: the segment's column lists, data interval and bitmap serialization.
//!
//! ```text
//! +------------------------------+------------------------------+-----------+-----------+------------------+
//! | GenericIndexed<string> cols  | GenericIndexed<string> dims  | start i64 | end i64   | serialized string|
//! | every column but __time:     | dimensions in segment order  | (BE, ms)  | (BE, ms)  | bitmap factory   |
//! | metrics sorted, then dims    |                              |           |           | JSON (optional:  |
//! |                              |                              |           |           | absent = concise)|
//! +------------------------------+------------------------------+-----------+-----------+------------------+
//! ```

use bytes::Bytes;
use serde_json::Value;

use super::bitmap::BitmapKind;
use super::format::{Cursor, FormatError, corrupt, put_string};
use super::generic_indexed::{self, GenericIndexed};
use crate::time::Interval;

/// The parsed `index.drd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDrd {
    /// Every non-time column.
    pub columns: Vec<String>,
    /// Dimensions in segment order.
    pub dimensions: Vec<String>,
    /// The data interval.
    pub interval: Interval,
    /// The segment-wide bitmap serialization.
    pub bitmap: BitmapKind,
}

fn read_names(src: &Bytes, cursor: &mut Cursor<'_>) -> Result<Vec<String>, FormatError> {
    let list = GenericIndexed::parse(src, cursor)?;
    let mut names = Vec::with_capacity(list.len());
    for index in 0..list.len() {
        let bytes = list.get(index)?;
        let name = std::str::from_utf8(bytes).map_err(|_| corrupt("column name is not UTF-8"))?;
        names.push(name.to_string());
    }
    Ok(names)
}

fn write_names(out: &mut Vec<u8>, names: &[String]) {
    let elements: Vec<Option<&[u8]>> = names.iter().map(|n| Some(n.as_bytes())).collect();
    let sorted = names
        .windows(2)
        .all(|w| super::string_column::java_str_cmp(&w[0], &w[1]).is_lt());
    out.extend_from_slice(&generic_indexed::write_in_memory(&elements, sorted));
}

impl IndexDrd {
    /// Parses the bytes of `index.drd`.
    pub fn parse(src: &Bytes) -> Result<IndexDrd, FormatError> {
        let mut cursor = Cursor::new(src);
        let columns = read_names(src, &mut cursor)?;
        let dimensions = read_names(src, &mut cursor)?;
        let start_ms = cursor.i64_be("interval start")?;
        let end_ms = cursor.i64_be("interval end")?;
        if start_ms > end_ms {
            return Err(corrupt(format!(
                "interval start {start_ms} after end {end_ms}"
            )));
        }
        let bitmap = if cursor.remaining() == 0 {
            BitmapKind::Concise
        } else {
            let text = cursor.string("bitmap serde factory")?;
            let json: Value = serde_json::from_str(text)
                .map_err(|e| corrupt(format!("bad bitmap factory JSON: {e}")))?;
            BitmapKind::from_json(&json)?
        };
        Ok(IndexDrd {
            columns,
            dimensions,
            interval: Interval::new(start_ms, end_ms),
            bitmap,
        })
    }

    /// Serializes `index.drd`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_names(&mut out, &self.columns);
        write_names(&mut out, &self.dimensions);
        out.extend_from_slice(&self.interval.start_ms.to_be_bytes());
        out.extend_from_slice(&self.interval.end_ms.to_be_bytes());
        put_string(&mut out, &self.bitmap.to_json().to_string());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_drd_round_trips() {
        let index = IndexDrd {
            columns: vec!["count".into(), "sum_bytes".into(), "srcIP".into()],
            dimensions: vec!["srcIP".into()],
            interval: Interval::new(1_514_768_400_000, 1_514_772_000_000),
            bitmap: BitmapKind::Roaring,
        };
        let bytes = index.to_bytes();
        assert!(bytes.ends_with(br#"{"type":"roaring"}"#));
        assert_eq!(IndexDrd::parse(&Bytes::from(bytes.clone())).unwrap(), index);
        assert!(IndexDrd::parse(&Bytes::from(bytes[..30].to_vec())).is_err());
    }
}
