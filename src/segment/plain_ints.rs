//! Uncompressed dictionary ids (`dimensionCompression: uncompressed`): Druid's
//! `VSizeColumnarInts` (single-value, string part version 0x00) and `VSizeColumnarMultiInts`
//! (multi-value, string part version 0x01), read in place from the mapping.
//!
//! ```text
//! single (VSizeColumnarIntsSerializer), after the part's version byte and dictionary:
//!   0x00 | numBytes u8 | size i32be | values: numBytes each, big-endian | 4 - numBytes zeros
//!   size = rows * numBytes + (4 - numBytes)
//! multi (VSizeColumnarMultiIntsSerializer):
//!   0x01 | numBytes u8 | size i32be | count i32be | count x end i32be | values (BE) | padding
//!   size = 4 + 4 * count + values + (4 - numBytes); end[r] = byte end of row r in the values
//! numBytes: 1 if cardinality <= 0xFF, 2 if <= 0xFFFF, 3 if <= 0xFFFFFF, else 4
//! ```

use bytes::Bytes;

use super::format::{Cursor, FormatError, corrupt};
use super::prefetch::{AHEAD_ROWS, prefetch};
use super::spill::Spill;
use super::vsize_ints::num_bytes_for_max;

/// Uncompressed single-value ids, read in place.
#[derive(Debug, Clone)]
pub struct PlainInts {
    values: Bytes,
    num_bytes: usize,
}

#[inline]
fn read_be(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, b| acc << 8 | *b as u32)
}

impl PlainInts {
    /// Returns the number of values.
    pub fn len(&self) -> usize {
        self.values.len() / self.num_bytes
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Returns value `index`.
    pub fn get(&self, index: usize) -> Result<u32, FormatError> {
        let start = index * self.num_bytes;
        let bytes = self
            .values
            .get(start..start + self.num_bytes)
            .ok_or_else(|| corrupt("id index out of range"))?;
        Ok(read_be(bytes))
    }

    /// Calls `f(i, id)` for each `rows[i]`; fails when a row is beyond the values.
    #[inline]
    pub fn gather(&self, rows: &[u32], mut f: impl FnMut(usize, u32)) -> Result<(), FormatError> {
        if rows.last().is_some_and(|r| *r as usize >= self.len()) {
            return Err(corrupt("id index out of range"));
        }
        let n = self.num_bytes;
        let values = &self.values[..];
        let ahead = |i: usize| {
            if let Some(r) = rows.get(i + AHEAD_ROWS) {
                prefetch(values, *r as usize * n);
            }
        };
        match n {
            1 => rows.iter().enumerate().for_each(|(i, r)| {
                ahead(i);
                f(i, values[*r as usize] as u32)
            }),
            2 => rows.iter().enumerate().for_each(|(i, r)| {
                ahead(i);
                let at = *r as usize * 2;
                f(i, u16::from_be_bytes([values[at], values[at + 1]]) as u32)
            }),
            _ => rows.iter().enumerate().for_each(|(i, r)| {
                ahead(i);
                let at = *r as usize * n;
                f(i, read_be(&values[at..at + n]))
            }),
        }
        Ok(())
    }

    /// Appends the ids of rows `start..end` (inside the column) to `out`.
    pub fn extend_range(&self, start: usize, end: usize, out: &mut Vec<u32>) {
        let n = self.num_bytes;
        let bytes = &self.values[start * n..end * n];
        match n {
            1 => out.extend(bytes.iter().map(|b| *b as u32)),
            2 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32),
            ),
            _ => out.extend(bytes.chunks_exact(n).map(read_be)),
        }
    }
}

fn parse_width(cursor: &mut Cursor<'_>) -> Result<usize, FormatError> {
    let num_bytes = cursor.u8("vsize width")? as usize;
    if !(1..=4).contains(&num_bytes) {
        return Err(corrupt(format!("vsize int width {num_bytes} not in 1..=4")));
    }
    Ok(num_bytes)
}

fn expect_version(cursor: &mut Cursor<'_>, expected: u8) -> Result<(), FormatError> {
    let version = cursor.u8("vsize ints version")?;
    if version != expected {
        return Err(corrupt(format!(
            "uncompressed ids version {version}, expected {expected}"
        )));
    }
    Ok(())
}

/// Parses uncompressed single-value ids (`0x00 | numBytes | size | …`).
pub fn parse_single(src: &Bytes, cursor: &mut Cursor<'_>) -> Result<PlainInts, FormatError> {
    expect_version(cursor, 0x00)?;
    let num_bytes = parse_width(cursor)?;
    let size = cursor.len_be("vsize size")?;
    let start = cursor.position();
    cursor.take(size, "vsize values")?;
    let used = size
        .checked_sub(4 - num_bytes)
        .ok_or_else(|| corrupt("vsize size smaller than its padding"))?;
    let used = used - used % num_bytes;
    Ok(PlainInts {
        values: src.slice(start..start + used),
        num_bytes,
    })
}

/// Uncompressed multi-value ids: per row a run of big-endian vsize ints.
#[derive(Debug, Clone)]
pub struct PlainMulti {
    ends: Bytes,
    values: Bytes,
    num_bytes: usize,
    count: usize,
}

impl PlainMulti {
    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn end(&self, row: usize) -> usize {
        read_be(&self.ends[row * 4..row * 4 + 4]) as usize
    }

    /// Appends the ids of `row` to `out`.
    pub fn row(&self, row: usize, out: &mut Vec<u32>) -> Result<(), FormatError> {
        if row >= self.count {
            return Err(corrupt(format!("row {row} out of range")));
        }
        let start = if row == 0 { 0 } else { self.end(row - 1) };
        let end = self.end(row);
        let bytes = self
            .values
            .get(start..end)
            .ok_or_else(|| corrupt(format!("row {row} spans {start}..{end} outside values")))?;
        if bytes.len() % self.num_bytes != 0 {
            return Err(corrupt(format!(
                "row {row} byte length not a multiple of {}",
                self.num_bytes
            )));
        }
        out.extend(bytes.chunks_exact(self.num_bytes).map(read_be));
        Ok(())
    }
}

/// Parses uncompressed multi-value ids (`0x01 | numBytes | size | count | …`).
pub fn parse_multi(src: &Bytes, cursor: &mut Cursor<'_>) -> Result<PlainMulti, FormatError> {
    expect_version(cursor, 0x01)?;
    let num_bytes = parse_width(cursor)?;
    let size = cursor.len_be("multi-value size")?;
    let region_start = cursor.position();
    let region = cursor.take(size, "multi-value region")?;
    let mut inner = Cursor::new(region);
    let count = inner.len_be("multi-value count")?;
    let ends_len = count.checked_mul(4).filter(|len| *len <= inner.remaining());
    let ends_len =
        ends_len.ok_or_else(|| corrupt(format!("multi-value count {count} exceeds its size")))?;
    let ends_start = region_start + 4;
    let values_start = ends_start + ends_len;
    Ok(PlainMulti {
        ends: src.slice(ends_start..values_start),
        values: src.slice(values_start..region_start + region.len()),
        num_bytes,
        count,
    })
}

/// Appends the low `WIDTH` bytes of each id, big-endian.
fn pack_big_endian<const WIDTH: usize>(ids: &[u32], out: &mut Vec<u8>) {
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes()[4 - WIDTH..]);
    }
}

/// Streams ids into the uncompressed single- or multi-value form.
#[derive(Debug)]
pub struct PlainIntsWriter {
    values: Spill,
    ends_opt: Option<Spill>,
    num_bytes: usize,
    rows: usize,
}

impl PlainIntsWriter {
    /// Starts a writer for ids up to `max_value` (the cardinality, as Druid passes it); multi-value
    /// when `ends_opt` holds the spill of the row ends.
    pub fn new(values: Spill, ends_opt: Option<Spill>, max_value: u32) -> Self {
        PlainIntsWriter {
            values,
            ends_opt,
            num_bytes: num_bytes_for_max(max_value),
            rows: 0,
        }
    }

    /// Appends one row (exactly one id for single-value columns).
    #[inline]
    pub fn push_row(&mut self, ids: &[u32]) -> std::io::Result<()> {
        for id in ids {
            let bytes = id.to_be_bytes();
            // One arm per width, so that each copy has a constant length (no `memcpy` call).
            match self.num_bytes {
                1 => self.values.write_all(&bytes[3..])?,
                2 => self.values.write_all(&bytes[2..])?,
                3 => self.values.write_all(&bytes[1..])?,
                _ => self.values.write_all(&bytes)?,
            }
        }
        if let Some(ends) = &mut self.ends_opt {
            ends.write_all(&(self.values.len_bytes() as u32).to_be_bytes())?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends rows of one id each.
    pub fn push_singles(&mut self, ids: &[u32]) -> std::io::Result<()> {
        if self.ends_opt.is_some() {
            return ids
                .iter()
                .try_for_each(|id| self.push_row(std::slice::from_ref(id)));
        }
        // Packed into one buffer written at once; one loop per width keeps each copy constant.
        let mut packed = Vec::with_capacity(ids.len() * self.num_bytes);
        match self.num_bytes {
            1 => pack_big_endian::<1>(ids, &mut packed),
            2 => pack_big_endian::<2>(ids, &mut packed),
            3 => pack_big_endian::<3>(ids, &mut packed),
            _ => pack_big_endian::<4>(ids, &mut packed),
        }
        self.values.write_all(&packed)?;
        self.rows += ids.len();
        Ok(())
    }

    /// Writes the header, ends (multi-value), values and padding to `out`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let padding = 4 - self.num_bytes;
        let values_len = self.values.len_bytes() as usize + padding;
        let mut header = Vec::with_capacity(10);
        match &self.ends_opt {
            None => {
                header.extend_from_slice(&[0x00, self.num_bytes as u8]);
                header.extend_from_slice(&(values_len as i32).to_be_bytes());
            }
            Some(_) => {
                let size = 4 + 4 * self.rows + values_len;
                header.extend_from_slice(&[0x01, self.num_bytes as u8]);
                header.extend_from_slice(&(size as i32).to_be_bytes());
                header.extend_from_slice(&(self.rows as i32).to_be_bytes());
            }
        }
        out.write_all(&header)?;
        if let Some(ends) = self.ends_opt {
            ends.copy_to(out)?;
        }
        self.values.copy_to(out)?;
        out.write_all(&[0u8; 3][..padding])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(rows: &[&[u32]], multi: bool, max: u32) -> Bytes {
        let ends_opt = multi.then(Spill::memory);
        let mut writer = PlainIntsWriter::new(Spill::memory(), ends_opt, max);
        rows.iter().for_each(|r| writer.push_row(r).unwrap());
        let mut out = Vec::new();
        writer.write_to(&mut out).unwrap();
        Bytes::from(out)
    }

    #[test]
    fn single_value_bytes_match_vsize_columnar_ints() {
        let bytes = written(&[&[1], &[0x0102]], false, 300);
        assert_eq!(&bytes[..], &[0, 2, 0, 0, 0, 6, 0, 1, 0x01, 0x02, 0, 0]);
        let ints = parse_single(&bytes, &mut Cursor::new(&bytes)).unwrap();
        assert_eq!(
            (ints.len(), ints.get(0).unwrap(), ints.get(1).unwrap()),
            (2, 1, 0x0102)
        );
        let mut seen = Vec::new();
        ints.gather(&[1], |i, id| seen.push((i, id))).unwrap();
        assert_eq!(seen, [(0, 0x0102)]);
        assert!(ints.gather(&[2], |_, _| {}).is_err());
        let empty = written(&[], false, 0);
        assert_eq!(&empty[..], &[0, 1, 0, 0, 0, 3, 0, 0, 0]);
        assert!(
            parse_single(&empty, &mut Cursor::new(&empty))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn multi_value_bytes_match_vsize_columnar_multi_ints() {
        // two rows: [5, 6] and []
        let bytes = written(&[&[5, 6], &[]], true, 7);
        let expected = [
            1, 1, 0, 0, 0, 17, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 5, 6, 0, 0, 0,
        ];
        assert_eq!(&bytes[..], &expected);
        let parsed = parse_multi(&bytes, &mut Cursor::new(&bytes)).unwrap();
        let mut row = Vec::new();
        parsed.row(0, &mut row).unwrap();
        parsed.row(1, &mut row).unwrap();
        assert_eq!((parsed.len(), row), (2, vec![5, 6]));
        assert!(parsed.row(2, &mut Vec::new()).is_err());
        assert!(parse_multi(&bytes.slice(..10), &mut Cursor::new(&bytes.slice(..10))).is_err());
    }
}
