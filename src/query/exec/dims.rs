//! [`DimReader`]: the values of one grouping dimension in one segment as small integer ids.
//!
//! A string column without extraction uses its dictionary ids directly (cardinality known up
//! front, so groupings can index arrays; values are read from the dictionary only for the groups
//! that come out); an extraction function maps each dictionary id once to the id of its extracted
//! value. Numeric columns and `__time` are read row by row and their (extracted) text interned.
//! Ids of a few selected rows are gathered row by row; a dense selection decodes whole blocks.

use std::collections::HashMap;
use std::ops::Range;

use super::cells::cell_texts;
use super::view::SegmentView;
use crate::query::error::QueryResult;
use crate::query::spec::{DimensionSpec, ExtractionFn};
use crate::segment::Column;
use crate::segment::reader::StringColumn;

enum Kind {
    /// Dictionary ids, mapped through `remap` (into the interned values) when present; without
    /// `remap` the values are the dictionary's.
    Dict {
        column: Box<StringColumn>,
        remap: Option<Vec<u32>>,
    },
    /// Read and interned per row.
    Computed {
        column: Option<Box<Column>>,
        extraction: Option<ExtractionFn>,
        is_time: bool,
    },
}

/// One grouping dimension bound to a segment.
pub struct DimReader {
    kind: Kind,
    values: Vec<Option<String>>,
    interned: HashMap<Option<String>, u32>,
    fixed: bool,
    scratch_ids: Vec<u32>,
    scratch_texts: Vec<Option<String>>,
}

impl DimReader {
    /// Binds `spec` to the view's segment.
    pub fn new(spec: &DimensionSpec, view: &mut SegmentView<'_>) -> QueryResult<DimReader> {
        let column = view.column(&spec.dimension)?;
        let mut reader = DimReader {
            kind: Kind::Computed {
                column: None,
                extraction: spec.extraction.clone(),
                is_time: spec.dimension == "__time",
            },
            values: Vec::new(),
            interned: HashMap::new(),
            fixed: false,
            scratch_ids: Vec::new(),
            scratch_texts: Vec::new(),
        };
        match column {
            Some(Column::String(col)) => {
                let dictionary = col.dictionary();
                let remap = match &spec.extraction {
                    None => None,
                    Some(f) => {
                        let mut remap = Vec::with_capacity(dictionary.len() as usize);
                        for id in 0..dictionary.len() {
                            remap.push(reader.intern(f.apply(dictionary.get(id)?)));
                        }
                        Some(remap)
                    }
                };
                reader.kind = Kind::Dict { column: col, remap };
                reader.fixed = true;
            }
            None => {
                let value = spec.extraction.as_ref().and_then(|f| f.apply(None));
                reader.intern(value);
                reader.fixed = true;
                reader.kind = Kind::Computed {
                    column: None,
                    extraction: None,
                    is_time: false,
                };
            }
            Some(other) => {
                reader.kind = Kind::Computed {
                    column: Some(Box::new(other)),
                    extraction: spec.extraction.clone(),
                    is_time: spec.dimension == "__time",
                };
            }
        }
        Ok(reader)
    }

    fn intern(&mut self, value: Option<String>) -> u32 {
        if let Some(id) = self.interned.get(&value) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.interned.insert(value, id);
        id
    }

    /// Returns the number of ids when it is known before reading rows.
    pub fn fixed_cardinality(&self) -> Option<usize> {
        match &self.kind {
            Kind::Dict {
                column,
                remap: None,
            } => Some(column.dictionary().len() as usize),
            _ => self.fixed.then_some(self.values.len()),
        }
    }

    /// True when a row may hold several values.
    pub fn is_multi_value(&self) -> bool {
        matches!(&self.kind, Kind::Dict { column, .. } if column.is_multi_value())
    }

    /// Returns the value of `id`.
    pub fn value(&self, id: u32) -> QueryResult<Option<&str>> {
        match &self.kind {
            Kind::Dict {
                column,
                remap: None,
            } => Ok(column.dictionary().get(id)?),
            _ => Ok(self.values.get(id as usize).and_then(|v| v.as_deref())),
        }
    }

    /// Returns the value of `id` as bytes, unchecked for UTF-8 when read from a dictionary
    /// (group keys are decoded as Druid decodes strings: malformed bytes become U+FFFD).
    pub fn value_bytes(&self, id: u32) -> QueryResult<Option<&[u8]>> {
        match &self.kind {
            Kind::Dict {
                column,
                remap: None,
            } => Ok(column.dictionary().get_bytes(id)?),
            _ => Ok(self
                .values
                .get(id as usize)
                .and_then(|v| v.as_deref())
                .map(str::as_bytes)),
        }
    }

    /// Writes the id of each of `rows` (ascending, inside `span`) into `out`; single-value only.
    pub fn ids(&mut self, span: Range<u32>, rows: &[u32], out: &mut Vec<u32>) -> QueryResult<()> {
        out.clear();
        match &self.kind {
            Kind::Dict { column, remap } if rows.len() * 8 < span.len() => {
                out.resize(rows.len(), 0);
                column.gather_ids(rows, |i, id| {
                    out[i] = remap.as_ref().map_or(id, |m| m[id as usize]);
                })?;
            }
            Kind::Dict { column, remap } => {
                let dense = rows.len() == span.len();
                column.for_each_id_block_in(span, |block, ids| {
                    if dense {
                        match remap {
                            None => out.extend_from_slice(ids),
                            Some(map) => out.extend(ids.iter().map(|id| map[*id as usize])),
                        }
                        return;
                    }
                    let start = out.len();
                    for row in &rows[start..] {
                        if *row >= block.end {
                            break;
                        }
                        let id = ids[(*row - block.start) as usize];
                        out.push(remap.as_ref().map_or(id, |m| m[id as usize]));
                    }
                })?;
            }
            Kind::Computed { column: None, .. } => out.resize(rows.len(), 0),
            Kind::Computed { .. } => {
                for row in rows {
                    let id = self.computed_id(*row)?;
                    out.push(id);
                }
            }
        }
        Ok(())
    }

    /// Writes the ids of one row into `out` (several for multi-value rows; null is an id too).
    pub fn row_ids(&mut self, row: u32, out: &mut Vec<u32>) -> QueryResult<()> {
        out.clear();
        match &self.kind {
            Kind::Dict { column, remap } => {
                column.row_ids(row, out)?;
                if out.is_empty() {
                    out.push(column.dictionary().index_of(None)?.unwrap_or(0));
                }
                if let Some(map) = remap {
                    for id in out.iter_mut() {
                        *id = map[*id as usize];
                    }
                    out.sort_unstable();
                    out.dedup();
                }
            }
            Kind::Computed { column: None, .. } => out.push(0),
            Kind::Computed { .. } => {
                let id = self.computed_id(row)?;
                out.push(id);
            }
        }
        Ok(())
    }

    fn computed_id(&mut self, row: u32) -> QueryResult<u32> {
        let Kind::Computed {
            column,
            extraction,
            is_time,
        } = &self.kind
        else {
            return Ok(0);
        };
        let value = if *is_time {
            let ms = match column.as_deref() {
                Some(Column::Long(c)) => c.get(row)?,
                _ => 0,
            };
            match extraction {
                Some(f) => f.apply_time(ms),
                None => Some(ms.to_string()),
            }
        } else {
            cell_texts(
                column.as_deref(),
                row,
                &mut self.scratch_ids,
                &mut self.scratch_texts,
            )?;
            let text = self.scratch_texts.first().cloned().flatten();
            match extraction {
                Some(f) => f.apply(text.as_deref()),
                None => text,
            }
        };
        Ok(self.intern(value))
    }
}
