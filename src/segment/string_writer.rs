//! The writer half of `string_column`: streams dictionary ids row by row into compressed vsize
//! blocks (V3 offsets + values for multi-value columns), or with `uncompressed` into Druid's plain
//! vsize forms (string part versions 0x00 / 0x01, `plain_ints`), and builds one roaring bitmap
//! per dictionary id; the byte layout is drawn in `string_column`.

use std::io::{self, Write};
use std::path::Path;

use super::bitmap::BitmapKind;
use super::bitmap_builder::BitmapIndexBuilder;
use super::block_column::ByteOrder;
use super::column_descriptor::{ColumnDescriptor, Part, ValueType};
use super::compression::Compression;
use super::generic_indexed::{self, GenericIndexedWriter};
use super::plain_ints::PlainIntsWriter;
use super::spill::Spill;
use super::vsize_ints::{IntsWriter, VSizeIntsWriter};

/// Flag of the V2 multi-value layout (Druid's `Feature.MULTI_VALUE`).
const FLAG_MULTI_VALUE: i32 = 0x01;
/// Flag of the V3 multi-value layout.
const FLAG_MULTI_VALUE_V3: i32 = 0x02;
/// Flag of a part without bitmap indexes (Druid's `Feature.NO_BITMAP_INDEX`).
pub(crate) const FLAG_NO_BITMAP_INDEX: i32 = 0x04;

/// Where the ids go (one per string column being written, so the size difference of the
/// variants does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum IdsWriter {
    /// Compressed vsize blocks, with V3 offsets for multi-value columns.
    Compressed {
        values: VSizeIntsWriter,
        offsets_opt: Option<IntsWriter>,
    },
    /// The uncompressed forms.
    Plain(PlainIntsWriter),
}

/// Streams one string column.
#[derive(Debug)]
pub struct StringColumnWriter {
    dictionary: Vec<Option<String>>,
    ids: IdsWriter,
    multi_value: bool,
    num_values: u32,
    /// The bitmap index being built and where it is serialized; `None` without one.
    bitmaps_opt: Option<(BitmapIndexBuilder, Spill)>,
    num_rows: u32,
}

impl StringColumnWriter {
    /// Starts a column over a sorted `dictionary` (null only as entry 0), with bitmap indexes
    /// when `bitmap_index`; spill files are created in `dir_opt` with names starting with
    /// `prefix`.
    pub fn new(
        dictionary: Vec<Option<String>>,
        multi_value: bool,
        compression: Compression,
        bitmap_index: bool,
        dir_opt: Option<&Path>,
        prefix: &str,
    ) -> io::Result<Self> {
        let cardinality = dictionary.len() as u32;
        let values_spill = Spill::new_in(dir_opt, &format!("{prefix}.ids"))?;
        let offsets_spill_opt = match multi_value {
            true => Some(Spill::new_in(dir_opt, &format!("{prefix}.offsets"))?),
            false => None,
        };
        let ids = if compression == Compression::Uncompressed {
            IdsWriter::Plain(PlainIntsWriter::new(
                values_spill,
                offsets_spill_opt,
                cardinality,
            ))
        } else {
            let offsets_opt = match offsets_spill_opt {
                Some(spill) => {
                    let mut offsets = IntsWriter::new(spill, compression);
                    offsets.push(0)?;
                    Some(offsets)
                }
                None => None,
            };
            IdsWriter::Compressed {
                values: VSizeIntsWriter::new(values_spill, compression, cardinality),
                offsets_opt,
            }
        };
        let bitmaps_opt = match bitmap_index {
            true => Some((
                BitmapIndexBuilder::new(dictionary.len(), multi_value, || {
                    Spill::new_in(dir_opt, &format!("{prefix}.rows"))
                })?,
                Spill::new_in(dir_opt, &format!("{prefix}.bitmaps"))?,
            )),
            false => None,
        };
        Ok(StringColumnWriter {
            bitmaps_opt,
            dictionary,
            ids,
            multi_value,
            num_values: 0,
            num_rows: 0,
        })
    }

    /// Returns the number of dictionary entries.
    pub fn cardinality(&self) -> u32 {
        self.dictionary.len() as u32
    }

    /// Checks the ids of one row against the dictionary and the column's value count rule.
    #[inline]
    pub fn check_row(&self, ids: &[u32]) -> Result<(), String> {
        if !self.multi_value && ids.len() != 1 {
            return Err(format!("single-value column got {} ids", ids.len()));
        }
        match ids.iter().find(|id| **id >= self.cardinality()) {
            Some(id) => Err(format!(
                "id {id} beyond dictionary of {}",
                self.cardinality()
            )),
            None => Ok(()),
        }
    }

    /// Checks a batch column's ids (`lists`: several ids per row) against the dictionary and
    /// the column's value count rule.
    pub fn check_ids(&self, ids: &[u32], lists: bool) -> Result<(), String> {
        if lists && !self.multi_value {
            return Err("single-value column got lists of ids".into());
        }
        match ids.iter().copied().max() {
            Some(max) if max >= self.cardinality() => Err(format!(
                "id {max} beyond dictionary of {}",
                self.cardinality()
            )),
            _ => Ok(()),
        }
    }

    /// Appends one id per row (checked with [`StringColumnWriter::check_ids`] first).
    pub fn push_single_ids(&mut self, ids: &[u32]) -> io::Result<()> {
        if self.multi_value {
            return ids
                .iter()
                .try_for_each(|id| self.push_row(std::slice::from_ref(id)));
        }
        let first_row = self.num_rows;
        self.num_rows += ids.len() as u32;
        if let Some((bitmaps, _)) = &mut self.bitmaps_opt {
            bitmaps.push_consecutive(first_row, ids)?;
        }
        match &mut self.ids {
            IdsWriter::Plain(plain) => plain.push_singles(ids),
            IdsWriter::Compressed { values, .. } => values.push_all(ids),
        }
    }

    /// Appends one row's ids (checked with [`StringColumnWriter::check_row`] first).
    #[inline]
    pub fn push_row(&mut self, ids: &[u32]) -> io::Result<()> {
        let row = self.num_rows;
        self.num_rows += 1;
        if let Some((bitmaps, _)) = &mut self.bitmaps_opt {
            for id in ids {
                bitmaps.push(row, *id)?;
            }
            if self.multi_value
                && ids.is_empty()
                && self.dictionary.first().is_some_and(Option::is_none)
            {
                bitmaps.push(row, 0)?;
            }
        }
        match &mut self.ids {
            IdsWriter::Plain(plain) => plain.push_row(ids)?,
            IdsWriter::Compressed {
                values,
                offsets_opt,
            } => {
                for id in ids {
                    values.push(*id)?;
                }
                if let Some(offsets) = offsets_opt {
                    self.num_values += ids.len() as u32;
                    offsets.push(self.num_values)?;
                }
            }
        }
        Ok(())
    }

    /// Returns the descriptor of this column (roaring bitmaps, little-endian ids).
    pub fn descriptor(&self) -> ColumnDescriptor {
        let part = Part::StringDictionary {
            bitmap: BitmapKind::Roaring,
            order: ByteOrder::Little,
        };
        ColumnDescriptor::single(ValueType::String, self.multi_value, part)
    }

    /// Writes the part: version, flags, dictionary, ids, bitmaps.
    pub fn write_to(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.header())?;
        let entries: Vec<Option<&[u8]>> = self
            .dictionary
            .iter()
            .map(|e| e.as_deref().map(str::as_bytes))
            .collect();
        out.write_all(&generic_indexed::write_in_memory(&entries, true))?;
        match self.ids {
            IdsWriter::Plain(plain) => plain.write_to(out)?,
            IdsWriter::Compressed {
                values,
                offsets_opt: Some(offsets),
            } => {
                out.write_all(&[0x03])?;
                offsets.write_to(out)?;
                values.write_to(out)?;
            }
            IdsWriter::Compressed { values, .. } => values.write_to(out)?,
        }
        match self.bitmaps_opt {
            Some((builder, spill)) => {
                let mut bitmaps = GenericIndexedWriter::new(spill, false);
                builder.finish(&mut |bytes| bitmaps.push(Some(bytes)))?;
                bitmaps.write_to(out)
            }
            None => Ok(()),
        }
    }

    /// Version byte and flags, as Druid picks them: the plain forms need version 0x03 to carry
    /// flags, which they do only without bitmap indexes.
    fn header(&self) -> Vec<u8> {
        let no_bitmaps = match self.bitmaps_opt {
            Some(_) => 0,
            None => FLAG_NO_BITMAP_INDEX,
        };
        let (version, flags) = match (&self.ids, self.multi_value) {
            (IdsWriter::Plain(_), multi_value) if no_bitmaps != 0 => (
                0x03,
                no_bitmaps | if multi_value { FLAG_MULTI_VALUE } else { 0 },
            ),
            (IdsWriter::Plain(_), false) => return vec![0x00],
            (IdsWriter::Plain(_), true) => return vec![0x01],
            (IdsWriter::Compressed { .. }, true) => (0x02, no_bitmaps | FLAG_MULTI_VALUE_V3),
            (IdsWriter::Compressed { .. }, false) => (0x02, no_bitmaps),
        };
        let mut header = vec![version];
        header.extend_from_slice(&flags.to_be_bytes());
        header
    }
}
