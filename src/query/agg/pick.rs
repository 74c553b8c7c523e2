//! First/last aggregators (`longFirst` … `floatLast`, `stringFirst`, `stringLast`). Rows of a
//! segment are in time order, so the first row folded into a slot is its earliest and the last
//! its latest; the accumulator keeps that row per slot and reads the value when asked.

use std::ops::Range;

use super::accum::Accumulator;
use super::num::NumSource;
use super::spec::NumType;
use super::value::AggValue;
use crate::query::error::QueryResult;
use crate::segment::Column;
use crate::segment::long_column::LongColumn;

const NONE: u32 = u32::MAX;

/// Keeps the chosen row per slot.
#[derive(Debug, Default)]
struct RowPicks {
    last: bool,
    rows: Vec<u32>,
}

impl RowPicks {
    fn reset(&mut self, slots: usize) {
        self.rows.clear();
        self.rows.resize(slots, NONE);
    }
    fn grow(&mut self, slots: usize) {
        if slots > self.rows.len() {
            self.rows.resize(slots, NONE);
        }
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) {
        if rows.is_empty() {
            return;
        }
        let pick = &mut self.rows[slot as usize];
        if self.last {
            *pick = rows.end - 1;
        } else if *pick == NONE {
            *pick = rows.start;
        }
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) {
        for (row, slot) in rows.iter().zip(slots) {
            let pick = &mut self.rows[*slot as usize];
            if self.last || *pick == NONE {
                *pick = *row;
            }
        }
    }
}

/// Numeric first/last.
pub struct PickAcc {
    kind: NumType,
    picks: RowPicks,
    source: NumSource,
    time: LongColumn,
}

impl PickAcc {
    /// Picks the first (or last) value of `source`, timed by `time`.
    pub fn new(kind: NumType, last: bool, source: NumSource, time: LongColumn) -> PickAcc {
        PickAcc {
            kind,
            picks: RowPicks {
                last,
                rows: Vec::new(),
            },
            source,
            time,
        }
    }
}

impl Accumulator for PickAcc {
    fn reset(&mut self, slots: usize) {
        self.picks.reset(slots)
    }
    fn grow(&mut self, slots: usize) {
        self.picks.grow(slots)
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        self.picks.add_range(rows, slot);
        Ok(())
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        self.picks.add_rows(rows, slots);
        Ok(())
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        let row = self.picks.rows[slot as usize];
        if row == NONE {
            let empty_time = if self.picks.last { i64::MIN } else { i64::MAX };
            return Ok(match self.kind {
                NumType::Long => AggValue::TimedLong(empty_time, 0),
                NumType::Double => AggValue::TimedDouble(empty_time, 0.0),
                NumType::Float => AggValue::TimedFloat(empty_time, 0.0),
            });
        }
        let time = self.time.get(row)?;
        Ok(match self.kind {
            NumType::Long => AggValue::TimedLong(time, self.source.get::<i64>(row)?),
            NumType::Double => AggValue::TimedDouble(time, self.source.get::<f64>(row)?),
            NumType::Float => AggValue::TimedFloat(time, self.source.get::<f32>(row)?),
        })
    }
}

/// `stringFirst` / `stringLast`.
pub struct StringPickAcc {
    picks: RowPicks,
    column: Option<Column>,
    max_bytes: usize,
    time: LongColumn,
}

impl StringPickAcc {
    /// Picks the first (or last) value of `column`, truncated to `max_bytes`.
    pub fn new(
        column: Option<Column>,
        last: bool,
        max_bytes: usize,
        time: LongColumn,
    ) -> StringPickAcc {
        StringPickAcc {
            picks: RowPicks {
                last,
                rows: Vec::new(),
            },
            column,
            max_bytes,
            time,
        }
    }
}

impl Accumulator for StringPickAcc {
    fn reset(&mut self, slots: usize) {
        self.picks.reset(slots)
    }
    fn grow(&mut self, slots: usize) {
        self.picks.grow(slots)
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        self.picks.add_range(rows, slot);
        Ok(())
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        self.picks.add_rows(rows, slots);
        Ok(())
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        let row = self.picks.rows[slot as usize];
        if row == NONE {
            let empty_time = if self.picks.last { i64::MIN } else { i64::MAX };
            return Ok(AggValue::TimedStr(empty_time, None));
        }
        let time = self.time.get(row)?;
        let mut ids = Vec::new();
        let mut texts = Vec::new();
        crate::query::exec::cells::cell_texts(self.column.as_ref(), row, &mut ids, &mut texts)?;
        let value = texts.into_iter().next().flatten().map(|mut s| {
            if s.len() > self.max_bytes {
                let mut end = self.max_bytes;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
            s
        });
        Ok(AggValue::TimedStr(time, value))
    }
}
