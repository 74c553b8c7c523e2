//! Bitmap indexes of string columns: one bitmap per dictionary id, as GenericIndexed elements.
//!
//! ```text
//! roaring (written here): the portable RoaringBitmap serialization (RoaringFormatSpec),
//!   little-endian: cookie | [run flags] | container keys+cardinalities | [offsets] | containers
//! concise (read only; Druid 0.9's default): a sequence of 32-bit big-endian words
//!   1xxxxxxx... literal: the low 31 bits are rows base..base+31 (bit 0 = first row)
//!   00ppppp n   zero fill of n+1 blocks of 31 rows; if p > 0 row base+p-1 is set
//!   01ppppp n   one fill of n+1 blocks of 31 rows; if p > 0 row base+p-1 is clear
//!               (p: 5 bits 25..29, n: 25 bits 0..24)
//! an empty bitmap is a zero-length element in both formats
//! ```
//! Every decoded row is checked against the segment's row count, so a garbled bitmap cannot make
//! the reader allocate beyond what the segment's rows justify.

use roaring::RoaringBitmap;
use serde_json::{Value, json};

use super::format::{FormatError, corrupt};

/// Bitmap serialization of a segment or column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitmapKind {
    /// Roaring (portable format).
    Roaring,
    /// Concise (ImmutableConciseSet words).
    Concise,
}

impl BitmapKind {
    /// Reads a `bitmapSerdeFactory` JSON object (`{"type":"roaring",…}` or `{"type":"concise"}`).
    pub fn from_json(value: &Value) -> Result<BitmapKind, FormatError> {
        match value.get("type").and_then(Value::as_str) {
            Some("roaring") => Ok(BitmapKind::Roaring),
            Some("concise") => Ok(BitmapKind::Concise),
            Some(other) => Err(FormatError::Unsupported(format!("bitmap type `{other}`"))),
            None => Err(corrupt("bitmap serde factory without `type`")),
        }
    }

    /// Returns the factory JSON this writer emits (`{"type":"roaring"}`).
    pub fn to_json(self) -> Value {
        match self {
            BitmapKind::Roaring => json!({"type": "roaring"}),
            BitmapKind::Concise => json!({"type": "concise"}),
        }
    }
}

/// Decodes one serialized bitmap; every row must be below `num_rows`.
pub fn decode(kind: BitmapKind, bytes: &[u8], num_rows: u32) -> Result<RoaringBitmap, FormatError> {
    if bytes.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    let bitmap = match kind {
        BitmapKind::Roaring => decode_roaring(bytes)?,
        BitmapKind::Concise => decode_concise(bytes, num_rows)?,
    };
    match bitmap.max() {
        Some(max) if max >= num_rows => {
            Err(corrupt(format!("bitmap holds row {max} of {num_rows}")))
        }
        _ => Ok(bitmap),
    }
}

fn decode_roaring(bytes: &[u8]) -> Result<RoaringBitmap, FormatError> {
    // Bound the container count by the input length before the crate allocates descriptors.
    let cookie = u32::from_le_bytes(
        bytes
            .get(..4)
            .ok_or_else(|| corrupt("roaring bitmap shorter than its cookie"))?
            .try_into()
            .unwrap_or_default(),
    );
    let containers = if cookie == 12346 {
        let raw = bytes
            .get(4..8)
            .ok_or_else(|| corrupt("roaring bitmap truncated"))?;
        u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize
    } else {
        (cookie >> 16) as usize + 1
    };
    if containers.saturating_mul(4) > bytes.len() {
        return Err(corrupt(format!(
            "roaring bitmap claims {containers} containers in {} bytes",
            bytes.len()
        )));
    }
    RoaringBitmap::deserialize_from(bytes).map_err(|e| corrupt(format!("bad roaring bitmap: {e}")))
}

fn decode_concise(bytes: &[u8], num_rows: u32) -> Result<RoaringBitmap, FormatError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(corrupt(format!(
            "concise bitmap of {} bytes is not whole words",
            bytes.len()
        )));
    }
    let limit = num_rows as u64;
    let mut bitmap = RoaringBitmap::new();
    let mut base: u64 = 0;
    let out_of_range = |row: u64| corrupt(format!("concise bitmap sets row {row} of {num_rows}"));
    for chunk in bytes.chunks_exact(4) {
        let word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if word & 0x8000_0000 != 0 {
            let mut bits = word & 0x7FFF_FFFF;
            while bits != 0 {
                let row = base + bits.trailing_zeros() as u64;
                if row >= limit {
                    return Err(out_of_range(row));
                }
                let _ = bitmap.try_push(row as u32);
                bits &= bits - 1;
            }
            base += 31;
            continue;
        }
        let blocks = (word & 0x01FF_FFFF) as u64 + 1;
        let flipped_opt = match (word >> 25) & 0x1F {
            0 => None,
            position => Some(base + position as u64 - 1),
        };
        let end = base + blocks * 31;
        if word & 0x4000_0000 == 0 {
            if let Some(row) = flipped_opt {
                if row >= limit {
                    return Err(out_of_range(row));
                }
                let _ = bitmap.try_push(row as u32);
            }
        } else {
            if end > limit {
                return Err(out_of_range(end - 1));
            }
            bitmap.insert_range(base as u32..end as u32);
            if let Some(row) = flipped_opt {
                bitmap.remove(row as u32);
            }
        }
        base = end;
    }
    Ok(bitmap)
}

/// Serializes a bitmap in the roaring portable format, run-optimized as Druid's
/// `compressRunOnSerialization` does; an empty bitmap becomes zero bytes.
pub fn encode_roaring(bitmap: &mut RoaringBitmap, out: &mut Vec<u8>) {
    out.clear();
    if bitmap.is_empty() {
        return;
    }
    bitmap.optimize();
    bitmap
        .serialize_into(&mut *out)
        .expect("writing to a Vec does not fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[u32]) -> Vec<u8> {
        list.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn concise_literals_match_the_reference_example() {
        for (word, row) in [(0x8000_0001u32, 0u32), (0x8000_0002, 1), (0x8000_0004, 2)] {
            let bitmap = decode(BitmapKind::Concise, &words(&[word]), 3).unwrap();
            assert_eq!(bitmap.iter().collect::<Vec<_>>(), [row]);
        }
    }

    #[test]
    fn concise_fills_with_flipped_bits() {
        // zero fill of 2 blocks with bit 3 set, then literal {0, 30} of the third block
        let bytes = words(&[(4 << 25) | 1, 0x8000_0000 | 1 | (1 << 30)]);
        let bitmap = decode(BitmapKind::Concise, &bytes, 100).unwrap();
        assert_eq!(bitmap.iter().collect::<Vec<_>>(), [3, 62, 92]);
        // one fill of 2 blocks without row 1, then literal {0}
        let bytes = words(&[0x4000_0000 | (2 << 25) | 1, 0x8000_0001]);
        let bitmap = decode(BitmapKind::Concise, &bytes, 63).unwrap();
        assert_eq!(bitmap.len(), 62);
        assert!(!bitmap.contains(1) && bitmap.contains(61) && bitmap.contains(62));
    }

    #[test]
    fn rows_beyond_the_segment_are_corruption() {
        assert!(
            decode(
                BitmapKind::Concise,
                &words(&[0x4000_0000 | 0x01FF_FFFF]),
                1000
            )
            .is_err()
        );
        assert!(decode(BitmapKind::Concise, &[0, 0, 1], 10).is_err());
        let mut bitmap: RoaringBitmap = [5u32, 70_000].into_iter().collect();
        let mut bytes = Vec::new();
        encode_roaring(&mut bitmap, &mut bytes);
        assert_eq!(decode(BitmapKind::Roaring, &bytes, 70_001).unwrap(), bitmap);
        assert!(decode(BitmapKind::Roaring, &bytes, 70_000).is_err());
        assert!(decode(BitmapKind::Roaring, &bytes[..bytes.len() - 1], 70_001).is_err());
    }

    #[test]
    fn empty_bitmaps_are_zero_length() {
        let mut out = vec![1];
        encode_roaring(&mut RoaringBitmap::new(), &mut out);
        assert!(out.is_empty());
        assert!(decode(BitmapKind::Roaring, &[], 0).unwrap().is_empty());
        assert_eq!(
            BitmapKind::from_json(&json!({"type":"roaring","compressRunOnSerialization":true}))
                .unwrap(),
            BitmapKind::Roaring
        );
    }
}
