//! Complex columns: part type `complex` (hyperUnique, thetaSketch, first/last pairs, …).
//!
//! ```text
//! +------------------------------------------------------------------------------+
//! | GenericIndexed: element r = the serde's bytes for row r (zero length = null)  |
//! +------------------------------------------------------------------------------+
//! ```
//! The type name lives in the descriptor (`{"type":"complex","typeName":"hyperUnique"}`); the
//! bytes are opaque here (hyperUnique bytes are `HyperLogLogCollector.toByteArray()`).

use std::io::{self, Write};

use bytes::Bytes;

use super::error::{Ctx, SegmentError};
use super::format::{Cursor, FormatError, corrupt};
use super::generic_indexed::{GenericIndexed, GenericIndexedWriter};
use super::spill::Spill;

/// Complex type names of newer Druid versions that are not plain per-row objects.
const NESTED_TYPE_NAMES: [&str; 3] = ["json", "nested", "variant"];

/// A complex column reader.
#[derive(Debug, Clone)]
pub struct ComplexColumn {
    type_name: String,
    values: GenericIndexed,
    ctx: Ctx,
}

/// Parses a complex part (after the descriptor); the column must hold `num_rows` values.
pub fn parse(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    type_name: &str,
    num_rows: u32,
    ctx: Ctx,
) -> Result<ComplexColumn, FormatError> {
    if NESTED_TYPE_NAMES.contains(&type_name) {
        return Err(FormatError::Unsupported(format!(
            "nested complex type `{type_name}`"
        )));
    }
    let values = GenericIndexed::parse(src, cursor)?;
    if values.len() != num_rows as usize {
        return Err(corrupt(format!(
            "{} complex values in a segment of {num_rows} rows",
            values.len()
        )));
    }
    Ok(ComplexColumn {
        type_name: type_name.to_string(),
        values,
        ctx,
    })
}

impl ComplexColumn {
    /// Returns the complex type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Returns the number of rows.
    pub fn len(&self) -> u32 {
        self.values.len() as u32
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Returns the bytes of `row` (empty = null), borrowed from the segment.
    pub fn get(&self, row: u32) -> Result<&[u8], SegmentError> {
        self.values.get(row as usize).map_err(|e| self.ctx.err(e))
    }
}

/// Streams complex values.
#[derive(Debug)]
pub struct ComplexColumnWriter {
    values: GenericIndexedWriter,
}

impl ComplexColumnWriter {
    /// Starts a writer spilling to `spill`.
    pub fn new(spill: Spill) -> Self {
        ComplexColumnWriter {
            values: GenericIndexedWriter::new(spill, false),
        }
    }

    /// Appends one row's bytes; an empty slice is written as null.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.values
            .push(if bytes.is_empty() { None } else { Some(bytes) })
    }

    /// Writes the part to `out`.
    pub fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        self.values.write_to(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complex_values_round_trip_and_check_row_count() {
        let mut writer = ComplexColumnWriter::new(Spill::memory());
        for bytes in [&b"\x01\x02"[..], b"", b"xyz"] {
            writer.push(bytes).unwrap();
        }
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        let src = Bytes::from(out);
        let column = parse(
            &src,
            &mut Cursor::new(&src),
            "hyperUnique",
            3,
            Ctx::new("f", "u"),
        )
        .unwrap();
        assert_eq!(
            (
                column.get(0).unwrap(),
                column.get(1).unwrap(),
                column.get(2).unwrap()
            ),
            (&b"\x01\x02"[..], &b""[..], &b"xyz"[..])
        );
        assert!(
            parse(
                &src,
                &mut Cursor::new(&src),
                "hyperUnique",
                4,
                Ctx::new("f", "u")
            )
            .is_err()
        );
        assert!(matches!(
            parse(&src, &mut Cursor::new(&src), "json", 3, Ctx::new("f", "u")),
            Err(FormatError::Unsupported(_))
        ));
    }
}
