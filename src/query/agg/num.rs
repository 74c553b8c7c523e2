//! Numeric plumbing of the aggregators: the [`Num`] storage types (long, double, float) and
//! [`NumSource`], which reads any column block by block as numbers (long/float/double columns
//! directly, numeric strings through their dictionary, a missing column as zeros).

use std::ops::Range;

use super::value::AggValue;
use crate::query::error::QueryResult;
use crate::segment::Column;
use crate::segment::long_column::LongColumn;
use crate::segment::reader::{DoubleColumn, FloatColumn, StringColumn};

/// A numeric storage type of aggregators.
pub trait Num: Copy + Default + PartialOrd + Send + Sync + 'static {
    /// Adds (wrapping for longs).
    fn add(self, other: Self) -> Self;
    /// Converts a long (Java's cast rules).
    fn from_i64(value: i64) -> Self;
    /// Converts a double (truncating for longs).
    fn from_f64(value: f64) -> Self;
    /// Converts a float.
    fn from_f32(value: f32) -> Self;
    /// Wraps as an aggregated value.
    fn value(self) -> AggValue;
    /// Wraps as a timed (first/last) value.
    fn timed(self, time: i64) -> AggValue;
}

impl Num for i64 {
    #[inline]
    fn add(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }
    #[inline]
    fn from_i64(value: i64) -> i64 {
        value
    }
    #[inline]
    fn from_f64(value: f64) -> i64 {
        value as i64
    }
    #[inline]
    fn from_f32(value: f32) -> i64 {
        value as i64
    }
    fn value(self) -> AggValue {
        AggValue::Long(self)
    }
    fn timed(self, time: i64) -> AggValue {
        AggValue::TimedLong(time, self)
    }
}

impl Num for f64 {
    #[inline]
    fn add(self, other: f64) -> f64 {
        self + other
    }
    #[inline]
    fn from_i64(value: i64) -> f64 {
        value as f64
    }
    #[inline]
    fn from_f64(value: f64) -> f64 {
        value
    }
    #[inline]
    fn from_f32(value: f32) -> f64 {
        value as f64
    }
    fn value(self) -> AggValue {
        AggValue::Double(self)
    }
    fn timed(self, time: i64) -> AggValue {
        AggValue::TimedDouble(time, self)
    }
}

impl Num for f32 {
    #[inline]
    fn add(self, other: f32) -> f32 {
        self + other
    }
    #[inline]
    fn from_i64(value: i64) -> f32 {
        value as f32
    }
    #[inline]
    fn from_f64(value: f64) -> f32 {
        value as f32
    }
    #[inline]
    fn from_f32(value: f32) -> f32 {
        value
    }
    fn value(self) -> AggValue {
        AggValue::Float(self)
    }
    fn timed(self, time: i64) -> AggValue {
        AggValue::TimedFloat(time, self)
    }
}

/// A column read as numbers.
#[derive(Debug, Clone)]
pub enum NumSource {
    /// A long column.
    Long(LongColumn),
    /// A float column.
    Float(FloatColumn),
    /// A double column.
    Double(DoubleColumn),
    /// A single-value string column whose values parse as numbers (others read 0).
    Dict(Box<StringColumn>, Vec<f64>),
    /// A missing (or non-numeric) column: zeros.
    Zero,
}

impl NumSource {
    /// Builds the source of `column`.
    pub fn new(column: Option<Column>) -> QueryResult<NumSource> {
        Ok(match column {
            Some(Column::Long(c)) => NumSource::Long(c),
            Some(Column::Float(c)) => NumSource::Float(c),
            Some(Column::Double(c)) => NumSource::Double(c),
            Some(Column::String(c)) if !c.is_multi_value() => {
                let dictionary = c.dictionary();
                let mut table = Vec::with_capacity(dictionary.len() as usize);
                for id in 0..dictionary.len() {
                    let value = dictionary.get(id)?;
                    table.push(value.and_then(|v| v.trim().parse().ok()).unwrap_or(0.0));
                }
                NumSource::Dict(c, table)
            }
            _ => NumSource::Zero,
        })
    }

    /// Returns the value of one row.
    pub fn get<T: Num>(&self, row: u32) -> QueryResult<T> {
        Ok(match self {
            NumSource::Long(c) => T::from_i64(c.get(row)?),
            NumSource::Float(c) => T::from_f32(c.get(row)?),
            NumSource::Double(c) => T::from_f64(c.get(row)?),
            NumSource::Dict(c, table) => {
                let mut ids = Vec::with_capacity(1);
                c.row_ids(row, &mut ids)?;
                T::from_f64(ids.first().map_or(0.0, |id| table[*id as usize]))
            }
            NumSource::Zero => T::default(),
        })
    }

    /// Calls `visitor` with each block of values overlapping `rows` and the conversion of the
    /// column's value type to `T` (monomorphized: no per-value dispatch). Returns false, calling
    /// nothing, for the zero source.
    pub fn for_each_block<T: Num, V: BlockVisitor<T>>(
        &self,
        rows: Range<u32>,
        visitor: &mut V,
    ) -> QueryResult<bool> {
        match self {
            NumSource::Long(c) => {
                c.for_each_block_in(rows, |b, v| visitor.visit(b, v, T::from_i64))?
            }
            NumSource::Float(c) => {
                c.for_each_block_in(rows, |b, v| visitor.visit(b, v, T::from_f32))?
            }
            NumSource::Double(c) => {
                c.for_each_block_in(rows, |b, v| visitor.visit(b, v, T::from_f64))?
            }
            NumSource::Dict(c, table) => c.for_each_id_block_in(rows, |b, ids| {
                visitor.visit(b, ids, |id: u32| T::from_f64(table[id as usize]))
            })?,
            NumSource::Zero => return Ok(false),
        }
        Ok(true)
    }
}

impl NumSource {
    /// Calls `f(i, value of rows[i])` for every row of `rows` (ascending), reading only the
    /// selected rows where the layout allows (stored blocks and the entire layout are read in
    /// place; compressed blocks without a selected row are skipped). Returns false, calling
    /// nothing, for the zero source.
    #[inline]
    pub fn gather<T: Num>(&self, rows: &[u32], mut f: impl FnMut(usize, T)) -> QueryResult<bool> {
        match self {
            NumSource::Long(c) => c.gather(rows, |i, v| f(i, T::from_i64(v)))?,
            NumSource::Float(c) => c.gather(rows, |i, v| f(i, T::from_f32(v)))?,
            NumSource::Double(c) => c.gather(rows, |i, v| f(i, T::from_f64(v)))?,
            NumSource::Dict(c, table) => {
                c.gather_ids(rows, |i, id| f(i, T::from_f64(table[id as usize])))?
            }
            NumSource::Zero => return Ok(false),
        }
        Ok(true)
    }
}

/// Receives blocks of column values with their conversion to the aggregation type.
pub trait BlockVisitor<T> {
    /// Handles the values of rows `rows`.
    fn visit<S: Copy, C: Fn(S) -> T>(&mut self, rows: Range<u32>, values: &[S], convert: C);
}
