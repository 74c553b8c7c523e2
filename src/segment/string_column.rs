//! Dictionary-encoded string columns: part type `stringDictionary`, version 0x02.
//!
//! ```text
//! +---------+-----------+----------------------+------------------------+---------------------+
//! | version | flags i32 | dictionary           | row ids                | bitmaps             |
//! | 0x02    | (0x02,    | GenericIndexed, flag | single: vsize ints     | GenericIndexed,     |
//! | (0x00,  |  0x03     | sorted, entry 0 null | multi V3: 0x03 |       | one per dictionary  |
//! |  0x01,  |  only)    | (zero length) when   |   offsets | values     | id, flag 0, empty = |
//! |  0x03   | 1: multi  | the column has nulls | (`vsize_ints`; plain:  | zero length; absent |
//! | plain)  |    V2     |                      |  `plain_ints`)         | with flag 4         |
//! |         | 2: multi  |                      |                        |                     |
//! |         |    V3     |                      |                        |                     |
//! |         | 4: no     |                      |                        |                     |
//! |         | bitmaps   |                      |                        |                     |
//! +---------+-----------+----------------------+------------------------+---------------------+
//! ```
//! The dictionary is sorted in Java `String.compareTo` order (UTF-16 code units), see
//! [`java_str_cmp`]. Null rules: a zero-length dictionary entry is null; the null entry is always
//! id 0; its bitmap also holds the rows with no value (empty multi-value rows). A trailing spatial
//! index, present in spatial dimensions only, is ignored. Version 0x03 is the plain form with
//! flags (Druid writes it only to set flag 4); a part without bitmaps gets them built from its
//! ids on first use (module `built_bitmaps`).

use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use roaring::RoaringBitmap;

use super::bitmap::{self, BitmapKind};
use super::block_column::ByteOrder;
use super::error::{Ctx, SegmentError};
use super::format::{Cursor, FormatError, corrupt};
use super::generic_indexed::GenericIndexed;
use super::plain_ints::{self, PlainInts, PlainMulti};
use super::vsize_ints::{self, Ints, VSizeInts};

use super::built_bitmaps;
use super::string_writer::FLAG_NO_BITMAP_INDEX;
pub use super::string_writer::StringColumnWriter;

/// Bitmaps built for a part without bitmap indexes: a serialized roaring `GenericIndexed`, or why
/// building failed.
pub type BuiltSlot = OnceLock<Result<GenericIndexed, String>>;

/// A part's bitmap indexes: stored in it, or built from its ids on first use.
#[derive(Debug, Clone)]
enum Bitmaps {
    Stored(GenericIndexed),
    Built(Arc<BuiltSlot>),
}

/// Compares two strings as Java's `String.compareTo` does (UTF-16 code-unit order).
pub fn java_str_cmp(a: &str, b: &str) -> Ordering {
    java_utf8_cmp(a.as_bytes(), b.as_bytes())
}

/// [`java_str_cmp`] of two valid UTF-8 byte strings, without re-checking them: byte order is
/// code-point order, which is UTF-16 order except that a supplementary character (lead byte
/// `F0..F4`, a high surrogate in UTF-16) sorts below U+E000..U+FFFF (lead byte `EE`/`EF`).
/// The two strings' characters can only differ in length where their first differing byte is
/// a lead byte of both.
#[inline]
pub fn java_utf8_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    let (x, y) = (a[at], b[at]);
    let supplementary = |lead: u8| lead >= 0xF0;
    let high_bmp = |lead: u8| lead == 0xEE || lead == 0xEF;
    if supplementary(x) && high_bmp(y) {
        Ordering::Less
    } else if high_bmp(x) && supplementary(y) {
        Ordering::Greater
    } else {
        x.cmp(&y)
    }
}

/// Compares optional dictionary values: null first, then Java order.
pub fn java_opt_cmp(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => java_str_cmp(x, y),
    }
}

/// The sorted dictionary of a string column, read in place from the segment.
#[derive(Debug, Clone)]
pub struct StringDictionary {
    entries: GenericIndexed,
    ctx: Ctx,
}

impl StringDictionary {
    /// Returns the number of entries (the column cardinality).
    pub fn len(&self) -> u32 {
        self.entries.len() as u32
    }

    /// True when the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Returns the bytes of entry `id` without checking that they are UTF-8; a zero-length
    /// entry is null.
    pub fn get_bytes(&self, id: u32) -> Result<Option<&[u8]>, SegmentError> {
        let bytes = self.entries.get(id as usize).map_err(|e| self.ctx.err(e))?;
        Ok((!bytes.is_empty()).then_some(bytes))
    }

    /// Returns entry `id`; a zero-length entry is null.
    pub fn get(&self, id: u32) -> Result<Option<&str>, SegmentError> {
        let bytes = self.entries.get(id as usize).map_err(|e| self.ctx.err(e))?;
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes).map(Some).map_err(|_| {
            self.ctx
                .corrupt(format!("dictionary entry {id} is not UTF-8"))
        })
    }

    /// Returns the id of `value` by binary search in Java order (`Some("")` is null).
    pub fn index_of(&self, value: Option<&str>) -> Result<Option<u32>, SegmentError> {
        let target = value.filter(|v| !v.is_empty());
        let (mut low, mut high) = (0u32, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match java_opt_cmp(self.get(mid)?, target) {
                Ordering::Less => low = mid + 1,
                Ordering::Greater => high = mid,
                Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }
}

/// How the row ids are stored.
#[derive(Debug, Clone)]
enum Ids {
    Single(VSizeInts),
    PlainSingle(PlainInts),
    MultiV3 {
        offsets: Ints,
        values: VSizeInts,
    },
    MultiV2 {
        offsets: VSizeInts,
        values: VSizeInts,
    },
    PlainMulti(PlainMulti),
}

/// A string column reader: dictionary, per-row ids and bitmap indexes.
#[derive(Debug, Clone)]
pub struct StringColumn {
    dictionary: StringDictionary,
    ids: Ids,
    bitmaps: Bitmaps,
    bitmap_kind: BitmapKind,
    num_rows: u32,
    ctx: Ctx,
}

/// Parses a string part (after the column descriptor); `num_rows` is the segment's row count.
pub fn parse(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    bitmap_kind: BitmapKind,
    num_rows: u32,
    ctx: Ctx,
) -> Result<StringColumn, FormatError> {
    let version = cursor.u8("string column version")?;
    let flags = match version {
        0x00 | 0x01 => 0,
        0x02 | 0x03 => cursor.i32_be("string column flags")?,
        other => return Err(corrupt(format!("unknown string column version {other}"))),
    };
    let entries = GenericIndexed::parse(src, cursor)?;
    let ids = match (version, flags & !FLAG_NO_BITMAP_INDEX) {
        (0x00, _) | (0x03, 0) => Ids::PlainSingle(plain_ints::parse_single(src, cursor)?),
        (0x01, _) | (0x03, 1) => Ids::PlainMulti(plain_ints::parse_multi(src, cursor)?),
        (0x02, 0) => Ids::Single(vsize_ints::parse_vsize(src, cursor, order, ctx.clone())?),
        (0x02, 2) => parse_multi(src, cursor, order, &ctx, 0x03)?,
        (0x02, 1) => parse_multi(src, cursor, order, &ctx, 0x02)?,
        _ => {
            return Err(FormatError::Unsupported(format!(
                "string column version {version:#x} with flags {flags:#x}"
            )));
        }
    };
    let bitmaps = match flags & FLAG_NO_BITMAP_INDEX {
        0 => {
            let bitmaps = GenericIndexed::parse(src, cursor)?;
            if bitmaps.len() != entries.len() {
                return Err(corrupt(format!(
                    "{} bitmaps for {} dictionary entries",
                    bitmaps.len(),
                    entries.len()
                )));
            }
            Bitmaps::Stored(bitmaps)
        }
        _ => Bitmaps::Built(Arc::default()),
    };
    let column = StringColumn {
        dictionary: StringDictionary {
            entries,
            ctx: ctx.clone(),
        },
        ids,
        bitmaps,
        bitmap_kind,
        num_rows,
        ctx,
    };
    if column.id_rows() != num_rows as usize {
        return Err(corrupt(format!(
            "{} rows of ids in a segment of {num_rows} rows",
            column.id_rows()
        )));
    }
    Ok(column)
}

fn parse_multi(
    src: &Bytes,
    cursor: &mut Cursor<'_>,
    order: ByteOrder,
    ctx: &Ctx,
    expected: u8,
) -> Result<Ids, FormatError> {
    let version = cursor.u8("multi-value version")?;
    if version != expected {
        return Err(corrupt(format!(
            "multi-value version {version}, expected {expected}"
        )));
    }
    let ids = if expected == 0x03 {
        let offsets = vsize_ints::parse_ints(src, cursor, order, ctx.clone())?;
        Ids::MultiV3 {
            offsets,
            values: vsize_ints::parse_vsize(src, cursor, order, ctx.clone())?,
        }
    } else {
        let offsets = vsize_ints::parse_vsize(src, cursor, order, ctx.clone())?;
        Ids::MultiV2 {
            offsets,
            values: vsize_ints::parse_vsize(src, cursor, order, ctx.clone())?,
        }
    };
    match &ids {
        Ids::MultiV3 { offsets, .. } if offsets.is_empty() => {
            Err(corrupt("multi-value offsets are empty"))
        }
        Ids::MultiV2 { offsets, .. } if offsets.is_empty() => {
            Err(corrupt("multi-value offsets are empty"))
        }
        _ => Ok(ids),
    }
}

impl StringColumn {
    fn id_rows(&self) -> usize {
        match &self.ids {
            Ids::Single(ids) => ids.len() as usize,
            Ids::PlainSingle(ids) => ids.len(),
            Ids::MultiV3 { offsets, .. } => offsets.len() as usize - 1,
            Ids::MultiV2 { offsets, .. } => offsets.len() as usize - 1,
            Ids::PlainMulti(ids) => ids.len(),
        }
    }

    /// Returns the dictionary.
    pub fn dictionary(&self) -> &StringDictionary {
        &self.dictionary
    }

    /// Returns the number of rows.
    pub fn len(&self) -> u32 {
        self.num_rows
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.num_rows == 0
    }

    /// True when rows may hold several values.
    pub fn is_multi_value(&self) -> bool {
        matches!(
            self.ids,
            Ids::MultiV3 { .. } | Ids::MultiV2 { .. } | Ids::PlainMulti(_)
        )
    }

    /// Returns the bitmap serialization of this column.
    pub fn bitmap_kind(&self) -> BitmapKind {
        self.bitmap_kind
    }

    fn check_id(&self, id: u32) -> Result<u32, SegmentError> {
        if id >= self.dictionary.len() {
            return Err(self.ctx.corrupt(format!(
                "id {id} beyond dictionary of {}",
                self.dictionary.len()
            )));
        }
        Ok(id)
    }

    fn check_row(&self, row: u32) -> Result<(), SegmentError> {
        if row >= self.num_rows {
            return Err(self.ctx.corrupt(format!(
                "row {row} out of range, column has {}",
                self.num_rows
            )));
        }
        Ok(())
    }

    /// The dictionary id of `row` when the column is single-valued (`None` for multi-value
    /// columns: read those with [`StringColumn::row_ids`]).
    #[inline]
    pub fn single_id(&self, row: u32) -> Result<Option<u32>, SegmentError> {
        self.check_row(row)?;
        let id = match &self.ids {
            Ids::Single(ids) => ids.get(row)?,
            Ids::PlainSingle(ids) => ids.get(row as usize).map_err(|e| self.ctx.err(e))?,
            Ids::PlainMulti(_) | Ids::MultiV3 { .. } | Ids::MultiV2 { .. } => return Ok(None),
        };
        self.check_id(id).map(Some)
    }

    /// Replaces `out` with the dictionary ids of `row` (one for single-value columns; possibly
    /// none for multi-value ones).
    pub fn row_ids(&self, row: u32, out: &mut Vec<u32>) -> Result<(), SegmentError> {
        out.clear();
        if let Some(id) = self.single_id(row)? {
            out.push(id);
            return Ok(());
        }
        match &self.ids {
            Ids::PlainMulti(ids) => ids.row(row as usize, out).map_err(|e| self.ctx.err(e))?,
            Ids::MultiV3 { offsets, values } => {
                let (start, end) = (offsets.get(row)?, offsets.get(row + 1)?);
                self.push_range(start as i64, end as i64, values, out)?;
            }
            Ids::MultiV2 { offsets, values } => {
                let (start, end) = (offsets.get(row)?, offsets.get(row + 1)?);
                self.push_range(start as i64, end as i64, values, out)?;
            }
            // Read by `single_id` above.
            Ids::Single(_) | Ids::PlainSingle(_) => {}
        }
        for id in out.iter() {
            self.check_id(*id)?;
        }
        Ok(())
    }

    fn push_range(
        &self,
        start: i64,
        end: i64,
        values: &VSizeInts,
        out: &mut Vec<u32>,
    ) -> Result<(), SegmentError> {
        if start < 0 || start > end || end > values.len() as i64 {
            return Err(self.ctx.corrupt(format!(
                "multi-value row spans {start}..{end} of {} values",
                values.len()
            )));
        }
        for index in start as u32..end as u32 {
            out.push(values.get(index)?);
        }
        Ok(())
    }

    /// Calls `f` with blocks of ids of a single-value column, from `start_row` to the end.
    pub fn for_each_id_block(
        &self,
        start_row: u32,
        f: impl FnMut(std::ops::Range<u32>, &[u32]),
    ) -> Result<(), SegmentError> {
        self.for_each_id_block_in(start_row..self.num_rows, f)
    }

    /// Calls `f` with blocks of ids of a single-value column overlapping `rows`, cut to `rows`.
    pub fn for_each_id_block_in(
        &self,
        rows: std::ops::Range<u32>,
        mut f: impl FnMut(std::ops::Range<u32>, &[u32]),
    ) -> Result<(), SegmentError> {
        let cardinality = self.dictionary.len();
        let bad = |values: &[u32]| values.iter().any(|id| *id >= cardinality);
        let (start_row, end_row) = (rows.start, rows.end.min(self.num_rows));
        match &self.ids {
            Ids::Single(ids) => {
                let mut corrupt_opt = None;
                ids.for_each_block_in(start_row..end_row, |rows, values| {
                    if bad(values) {
                        corrupt_opt = Some(rows.start);
                    } else if corrupt_opt.is_none() {
                        f(rows, values);
                    }
                })?;
                match corrupt_opt {
                    Some(row) => Err(self
                        .ctx
                        .corrupt(format!("id beyond dictionary near row {row}"))),
                    None => Ok(()),
                }
            }
            Ids::PlainSingle(ids) => {
                let mut buffer = Vec::with_capacity(8192);
                let mut row = start_row;
                while row < end_row {
                    let end = (row + 8192).min(end_row);
                    buffer.clear();
                    ids.extend_range(row as usize, end as usize, &mut buffer);
                    if bad(&buffer) {
                        return Err(self
                            .ctx
                            .corrupt(format!("id beyond dictionary near row {row}")));
                    }
                    f(row..end, &buffer);
                    row = end;
                }
                Ok(())
            }
            _ => Err(SegmentError::InvalidInput(format!(
                "column `{}` is multi-value, block scans need single values",
                self.ctx.column()
            ))),
        }
    }

    /// Calls `f(i, id of rows[i])` for every row of `rows` (ascending) of a single-value column,
    /// reading only those rows: in place when uncompressed, else only the blocks holding them.
    pub fn gather_ids(
        &self,
        rows: &[u32],
        mut f: impl FnMut(usize, u32),
    ) -> Result<(), SegmentError> {
        if rows.last().is_some_and(|r| *r >= self.num_rows) {
            return Err(self.ctx.corrupt("row out of range"));
        }
        let cardinality = self.dictionary.len();
        let mut bad_opt = None;
        let mut checked = |i: usize, id: u32| match id < cardinality {
            true => f(i, id),
            false => bad_opt = Some(id),
        };
        match &self.ids {
            Ids::Single(ids) => ids.gather(rows, &mut checked)?,
            Ids::PlainSingle(ids) => ids
                .gather(rows, &mut checked)
                .map_err(|e| self.ctx.err(e))?,
            _ => {
                return Err(SegmentError::InvalidInput(format!(
                    "column `{}` is multi-value, gathers need single values",
                    self.ctx.column()
                )));
            }
        }
        match bad_opt {
            Some(id) => Err(self
                .ctx
                .corrupt(format!("id {id} beyond dictionary of {cardinality}"))),
            None => Ok(()),
        }
    }

    /// Decodes the bitmap of dictionary id `id` (roaring or concise). A part without bitmap
    /// indexes builds all of them (roaring) from its ids the first time, once per [`BuiltSlot`].
    pub fn bitmap(&self, id: u32) -> Result<RoaringBitmap, SegmentError> {
        let (bitmaps, kind) = match &self.bitmaps {
            Bitmaps::Stored(bitmaps) => (bitmaps, self.bitmap_kind),
            Bitmaps::Built(slot) => {
                let built =
                    slot.get_or_init(|| built_bitmaps::build(self).map_err(|e| e.to_string()));
                match built {
                    Ok(bitmaps) => (bitmaps, BitmapKind::Roaring),
                    Err(e) => return Err(self.ctx.corrupt(format!("building bitmaps: {e}"))),
                }
            }
        };
        let bytes = bitmaps.get(id as usize).map_err(|e| self.ctx.err(e))?;
        bitmap::decode(kind, bytes, self.num_rows).map_err(|e| self.ctx.err(e))
    }

    /// True when the part stores bitmap indexes (else [`StringColumn::bitmap`] builds them).
    pub fn has_bitmap_index(&self) -> bool {
        matches!(self.bitmaps, Bitmaps::Stored(_))
    }

    /// Makes this column build its missing bitmaps into `slot`, shared with other readers of
    /// the same column (a segment keeps one per column); nothing when it stores them.
    pub fn share_built_bitmaps(&mut self, slot: Arc<BuiltSlot>) {
        if let Bitmaps::Built(own) = &mut self.bitmaps {
            *own = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_order_puts_supplementary_characters_below_private_use() {
        assert_eq!(java_str_cmp("a", "b"), Ordering::Less);
        assert_eq!(java_str_cmp("ab", "a"), Ordering::Greater);
        assert_eq!(java_str_cmp("é", "é"), Ordering::Equal);
        // U+1F600 (surrogates D83D DE00) sorts before U+FF21 in Java, after it by code point.
        assert_eq!(java_str_cmp("\u{1F600}", "\u{FF21}"), Ordering::Less);
        assert_eq!(java_str_cmp("x\u{E000}", "x\u{10000}"), Ordering::Greater);
        // Inside a character: the lead bytes are equal, the continuation bytes decide.
        assert_eq!(java_str_cmp("\u{F000}", "\u{EFFF}"), Ordering::Greater);
        assert_eq!(java_str_cmp("\u{10001}", "\u{10000}"), Ordering::Greater);
        assert_eq!(java_str_cmp("\u{7FF}", "\u{800}"), Ordering::Less);
        assert_eq!(java_opt_cmp(None, Some("")), Ordering::Less);
        let mut words = vec!["\u{FFFD}", "\u{10400}", "z", "Z", "\u{E9}"];
        words.sort_by(|a, b| java_str_cmp(a, b));
        let utf16_sorted = {
            let mut w = words.clone();
            w.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            w
        };
        assert_eq!(words, utf16_sorted);
    }
}
