//! HyperLogLog aggregators: `hyperUnique` (folds the collectors stored in a hyperUnique column)
//! and `cardinality` (hashes dimension values, or whole rows with `byRow`, exactly as Druid's
//! `CardinalityAggregator` does: Guava murmur3_128 over the UTF-16 code units, values of a
//! multi-value row sorted and joined by U+0001, fields separated by a zero byte).

use std::ops::Range;

use super::accum::Accumulator;
use super::value::AggValue;
use crate::hll::{HyperLogLogCollector, murmur3_128_guava};
use crate::query::error::{QueryError, QueryResult};
use crate::query::exec::cells::cell_texts;
use crate::query::exec::view::SegmentView;
use crate::query::spec::DimensionSpec;
use crate::segment::reader::ComplexColumn;
use crate::segment::string_column::java_opt_cmp;
use crate::segment::{Column, SegmentError};

/// Collectors per slot.
#[derive(Debug, Default)]
struct Collectors(Vec<HyperLogLogCollector>);

impl Collectors {
    fn reset(&mut self, slots: usize) {
        self.0.clear();
        self.0.resize_with(slots, HyperLogLogCollector::new);
    }
    fn grow(&mut self, slots: usize) {
        if slots > self.0.len() {
            self.0.resize_with(slots, HyperLogLogCollector::new);
        }
    }
    fn value(&self, slot: u32) -> AggValue {
        AggValue::Hll(Box::new(self.0[slot as usize].clone()))
    }
}

enum HyperSource {
    Complex(ComplexColumn),
    Hashes(Box<crate::segment::reader::StringColumn>, Vec<[u8; 16]>),
    Empty,
}

/// `hyperUnique` over a hyperUnique column (or, leniently, over a string dimension).
pub struct HyperUniqueAcc {
    source: HyperSource,
    collectors: Collectors,
    ids: Vec<u32>,
}

impl HyperUniqueAcc {
    /// Binds to `column`.
    pub fn new(column: Option<Column>) -> QueryResult<HyperUniqueAcc> {
        let source = match column {
            Some(Column::Complex(c)) => HyperSource::Complex(c),
            Some(Column::String(c)) => {
                let mut hashes = Vec::with_capacity(c.dictionary().len() as usize);
                for id in 0..c.dictionary().len() {
                    hashes.push(murmur3_128_guava(
                        c.dictionary().get(id)?.unwrap_or("").as_bytes(),
                    ));
                }
                HyperSource::Hashes(c, hashes)
            }
            _ => HyperSource::Empty,
        };
        Ok(HyperUniqueAcc {
            source,
            collectors: Collectors::default(),
            ids: Vec::new(),
        })
    }

    fn add(&mut self, row: u32, slot: u32) -> QueryResult<()> {
        let target = &mut self.collectors.0[slot as usize];
        match &self.source {
            HyperSource::Complex(c) => {
                let bytes = c.get(row)?;
                if !bytes.is_empty() {
                    let collector = HyperLogLogCollector::from_bytes(bytes).map_err(|e| {
                        QueryError::Segment(SegmentError::Corrupt {
                            file: "-".into(),
                            column: "hyperUnique".into(),
                            reason: format!("row {row}: {e}"),
                        })
                    })?;
                    target.fold(&collector);
                }
            }
            HyperSource::Hashes(c, hashes) => {
                c.row_ids(row, &mut self.ids)?;
                for id in &self.ids {
                    target.add_hash(&hashes[*id as usize]);
                }
            }
            HyperSource::Empty => {}
        }
        Ok(())
    }
}

impl Accumulator for HyperUniqueAcc {
    fn reset(&mut self, slots: usize) {
        self.collectors.reset(slots)
    }
    fn grow(&mut self, slots: usize) {
        self.collectors.grow(slots)
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        for row in rows {
            self.add(row, slot)?;
        }
        Ok(())
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        for (row, slot) in rows.iter().zip(slots) {
            self.add(*row, *slot)?;
        }
        Ok(())
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        Ok(self.collectors.value(slot))
    }
}

/// One field of a `cardinality` aggregator.
struct Field {
    column: Option<Column>,
    extraction: Option<crate::query::spec::ExtractionFn>,
}

/// `cardinality`.
pub struct CardinalityAcc {
    fields: Vec<Field>,
    by_row: bool,
    collectors: Collectors,
    ids: Vec<u32>,
    texts: Vec<Option<String>>,
    bytes: Vec<u8>,
}

fn push_utf16(out: &mut Vec<u8>, value: &str) {
    for unit in value.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

impl CardinalityAcc {
    /// Binds the fields to the view's segment.
    pub fn new(
        fields: &[DimensionSpec],
        by_row: bool,
        view: &mut SegmentView<'_>,
    ) -> QueryResult<CardinalityAcc> {
        let mut bound = Vec::new();
        for spec in fields {
            bound.push(Field {
                column: view.column(&spec.dimension)?,
                extraction: spec.extraction.clone(),
            });
        }
        Ok(CardinalityAcc {
            fields: bound,
            by_row,
            collectors: Collectors::default(),
            ids: Vec::new(),
            texts: Vec::new(),
            bytes: Vec::new(),
        })
    }

    fn field_values(&mut self, index: usize, row: u32) -> QueryResult<()> {
        let field = &self.fields[index];
        cell_texts(field.column.as_ref(), row, &mut self.ids, &mut self.texts)?;
        if let Some(f) = &field.extraction {
            for text in self.texts.iter_mut() {
                *text = f.apply(text.as_deref());
            }
        }
        Ok(())
    }

    fn add(&mut self, row: u32, slot: u32) -> QueryResult<()> {
        if !self.by_row {
            for index in 0..self.fields.len() {
                self.field_values(index, row)?;
                for text in &self.texts {
                    self.bytes.clear();
                    push_utf16(&mut self.bytes, text.as_deref().unwrap_or(""));
                    self.collectors.0[slot as usize].add_hash(&murmur3_128_guava(&self.bytes));
                }
            }
            return Ok(());
        }
        let mut row_bytes = std::mem::take(&mut self.bytes);
        row_bytes.clear();
        for index in 0..self.fields.len() {
            if index != 0 {
                row_bytes.push(0);
            }
            self.field_values(index, row)?;
            if self.texts.len() == 1 {
                push_utf16(&mut row_bytes, self.texts[0].as_deref().unwrap_or(""));
            } else {
                self.texts
                    .sort_by(|a, b| java_opt_cmp(a.as_deref(), b.as_deref()));
                for (i, text) in self.texts.iter().enumerate() {
                    if i != 0 {
                        row_bytes.extend_from_slice(&1u16.to_le_bytes());
                    }
                    push_utf16(&mut row_bytes, text.as_deref().unwrap_or(""));
                }
            }
        }
        self.collectors.0[slot as usize].add_hash(&murmur3_128_guava(&row_bytes));
        self.bytes = row_bytes;
        Ok(())
    }
}

impl Accumulator for CardinalityAcc {
    fn reset(&mut self, slots: usize) {
        self.collectors.reset(slots)
    }
    fn grow(&mut self, slots: usize) {
        self.collectors.grow(slots)
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        for row in rows {
            self.add(row, slot)?;
        }
        Ok(())
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        for (row, slot) in rows.iter().zip(slots) {
            self.add(*row, *slot)?;
        }
        Ok(())
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        Ok(self.collectors.value(slot))
    }
}
