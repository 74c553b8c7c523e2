//! `GenericIndexed` version 1: Druid's universal container of variable-length elements
//! (dictionaries, compressed blocks, bitmaps, complex values).
//!
//! ```text
//! +------+-------+--------------+-----------+------------------------+---------------------------+
//! | 0x01 | flags | numBytes i32 | count i32 | count x end offset i32 | per element: prefix i32,  |
//! |      | 1=sorted | (all that follows) |   | (from values start,    |   then the element bytes  |
//! |      |       |              |           |  prefix included)      |                           |
//! +------+-------+--------------+-----------+------------------------+---------------------------+
//! ```
//! All integers are big-endian. Element `i` spans `[end[i-1] + 4, end[i])` of the values area; a
//! zero-length element reads as null. This writer puts prefix `0` before values and `0xFFFFFFFF`
//! before a null (as Druid ≥ 0.16 does). Version 2 (columns split over several smoosh files) is
//! rejected as unsupported.

use bytes::Bytes;

use super::format::{Cursor, FormatError, corrupt};
use super::spill::Spill;

/// Flag byte value marking strictly ascending elements.
const FLAG_SORTED: u8 = 0x01;

/// A parsed GenericIndexed v1 over shared bytes; elements are checked when read.
#[derive(Debug, Clone)]
pub struct GenericIndexed {
    offsets: Bytes,
    values: Bytes,
    count: usize,
    sorted: bool,
}

impl GenericIndexed {
    /// Parses a GenericIndexed starting at the cursor (which reads `src`) and advances past it.
    pub fn parse(src: &Bytes, cursor: &mut Cursor<'_>) -> Result<GenericIndexed, FormatError> {
        let version = cursor.u8("GenericIndexed version")?;
        match version {
            1 => {}
            2 => {
                return Err(FormatError::Unsupported(
                    "GenericIndexed version 2 (multi-file column)".into(),
                ));
            }
            other => return Err(corrupt(format!("unknown GenericIndexed version {other}"))),
        }
        let sorted = cursor.u8("GenericIndexed flags")? == FLAG_SORTED;
        let num_bytes = cursor.len_be("GenericIndexed size")?;
        let body_start = cursor.position();
        let body = cursor.take(num_bytes, "GenericIndexed body")?;
        let mut inner = Cursor::new(body);
        let count = inner.len_be("GenericIndexed count")?;
        let offsets_len = count.checked_mul(4).filter(|len| *len <= inner.remaining());
        let offsets_len = offsets_len
            .ok_or_else(|| corrupt(format!("GenericIndexed count {count} exceeds its size")))?;
        let offsets_start = body_start + 4;
        let values_start = offsets_start + offsets_len;
        Ok(GenericIndexed {
            offsets: src.slice(offsets_start..values_start),
            values: src.slice(values_start..body_start + num_bytes),
            count,
            sorted,
        })
    }

    /// Parses a GenericIndexed that fills `src` from its first byte.
    pub fn parse_all(src: &Bytes) -> Result<GenericIndexed, FormatError> {
        GenericIndexed::parse(src, &mut Cursor::new(src))
    }

    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when the writer flagged the elements as strictly ascending.
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    fn end_offset(&self, index: usize) -> usize {
        let at = index * 4;
        let raw = &self.offsets[at..at + 4];
        u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize
    }

    /// Returns element `index`; an empty slice is a null element.
    pub fn get(&self, index: usize) -> Result<&[u8], FormatError> {
        if index >= self.count {
            return Err(corrupt(format!(
                "element {index} out of range, GenericIndexed has {}",
                self.count
            )));
        }
        let start = if index == 0 {
            0
        } else {
            self.end_offset(index - 1)
        } + 4;
        let end = self.end_offset(index);
        if start > end || end > self.values.len() {
            return Err(corrupt(format!(
                "GenericIndexed element {index} spans {start}..{end} outside {} value bytes",
                self.values.len()
            )));
        }
        Ok(&self.values[start..end])
    }

    /// Returns element `index` as shared bytes (no copy).
    pub fn get_bytes(&self, index: usize) -> Result<Bytes, FormatError> {
        let slice = self.get(index)?;
        Ok(self.values.slice_ref(slice))
    }

    /// Returns the total size of the values area in bytes.
    pub fn values_len_bytes(&self) -> usize {
        self.values.len()
    }
}

/// Streams GenericIndexed elements into a spill, keeping only the end offsets in memory.
#[derive(Debug)]
pub struct GenericIndexedWriter {
    values: Spill,
    end_offsets: Vec<u32>,
    sorted: bool,
}

impl GenericIndexedWriter {
    /// Starts an empty container whose values area is `values`; `sorted` sets the flag byte.
    pub fn new(values: Spill, sorted: bool) -> Self {
        GenericIndexedWriter {
            values,
            end_offsets: Vec::new(),
            sorted,
        }
    }

    /// Appends one element; `None` writes a null (zero length, prefix `0xFFFFFFFF`).
    pub fn push(&mut self, element: Option<&[u8]>) -> std::io::Result<()> {
        let (prefix, bytes): ([u8; 4], &[u8]) = match element {
            Some(bytes) => ([0; 4], bytes),
            None => ([0xff; 4], &[]),
        };
        let end = self.values.len_bytes() + 4 + bytes.len() as u64;
        let end = u32::try_from(end)
            .ok()
            .filter(|e| *e <= i32::MAX as u32 - 64);
        let end = end.ok_or_else(|| std::io::Error::other("GenericIndexed values exceed 2 GiB"))?;
        self.values.write_all(&prefix)?;
        self.values.write_all(bytes)?;
        self.end_offsets.push(end);
        Ok(())
    }

    /// Returns the number of elements pushed.
    pub fn len(&self) -> usize {
        self.end_offsets.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.end_offsets.is_empty()
    }

    /// Returns the serialized size in bytes.
    pub fn serialized_len_bytes(&self) -> u64 {
        2 + 4 + 4 + 4 * self.end_offsets.len() as u64 + self.values.len_bytes()
    }

    /// Writes the whole container to `out` and releases the spill.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let num_bytes = 4 + 4 * self.end_offsets.len() as u64 + self.values.len_bytes();
        let num_bytes = i32::try_from(num_bytes)
            .map_err(|_| std::io::Error::other("GenericIndexed exceeds 2 GiB"))?;
        let mut header = Vec::with_capacity(10 + 4 * self.end_offsets.len());
        header.push(1);
        header.push(if self.sorted { FLAG_SORTED } else { 0 });
        header.extend_from_slice(&num_bytes.to_be_bytes());
        header.extend_from_slice(&(self.end_offsets.len() as i32).to_be_bytes());
        for end in &self.end_offsets {
            header.extend_from_slice(&end.to_be_bytes());
        }
        out.write_all(&header)?;
        self.values.copy_to(out)
    }

    /// Abandons the container, deleting any spill file.
    pub fn discard(self) {
        self.values.discard();
    }
}

/// Serializes a small in-memory GenericIndexed (used for dictionaries and `index.drd` lists).
pub fn write_in_memory(elements: &[Option<&[u8]>], sorted: bool) -> Vec<u8> {
    let mut writer = GenericIndexedWriter::new(Spill::memory(), sorted);
    for element in elements {
        writer.push(*element).expect("in-memory writes do not fail");
    }
    let mut out = Vec::new();
    writer
        .write_to(&mut out)
        .expect("in-memory writes do not fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_container_matches_druid_bytes() {
        assert_eq!(write_in_memory(&[], true), [1, 1, 0, 0, 0, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn host_dictionary_matches_the_reference_layout() {
        let names: Vec<&[u8]> = vec![b"a.example.com", b"b.example.com", b"c.example.com"];
        let elements: Vec<Option<&[u8]>> = names.iter().map(|n| Some(*n)).collect();
        let bytes = write_in_memory(&elements, true);
        assert_eq!(
            &bytes[..18],
            &[
                1, 1, 0, 0, 0, 0x43, 0, 0, 0, 3, 0, 0, 0, 0x11, 0, 0, 0, 0x22
            ]
        );
        let parsed = GenericIndexed::parse_all(&Bytes::from(bytes)).unwrap();
        assert!(parsed.is_sorted());
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed.get(2).unwrap(), b"c.example.com");
        assert!(parsed.get(3).is_err());
    }

    #[test]
    fn null_elements_read_back_empty() {
        let bytes = write_in_memory(&[None, Some(b"x")], true);
        assert_eq!(&bytes[18..22], &[0xff; 4]);
        let parsed = GenericIndexed::parse_all(&Bytes::from(bytes)).unwrap();
        assert_eq!(parsed.get(0).unwrap(), b"");
        assert_eq!(parsed.get(1).unwrap(), b"x");
    }

    #[test]
    fn garbled_offsets_and_sizes_are_errors() {
        let mut bytes = write_in_memory(&[Some(b"abc"), Some(b"de")], false);
        assert!(
            GenericIndexed::parse_all(&Bytes::from(bytes[..bytes.len() - 1].to_vec())).is_err()
        );
        bytes[13] = 0xf0; // first end offset far beyond the values
        let parsed = GenericIndexed::parse_all(&Bytes::from(bytes.clone())).unwrap();
        assert!(parsed.get(0).is_err());
        bytes[6..10].copy_from_slice(&1_000_000i32.to_be_bytes());
        assert!(GenericIndexed::parse_all(&Bytes::from(bytes)).is_err());
        let v2 = Bytes::from_static(&[2, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
        assert!(matches!(
            GenericIndexed::parse_all(&v2),
            Err(FormatError::Unsupported(_))
        ));
    }
}
