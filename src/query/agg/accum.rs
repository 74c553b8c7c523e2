//! Accumulators: aggregators bound to one segment, folding rows into numbered slots (a slot is a
//! time bucket, a dimension value or a group). Numeric folds run over whole decoded blocks:
//! [`Accumulator::add_range`] folds a contiguous range into one slot (a tight, vectorizable
//! loop), [`Accumulator::add_rows`] scatters selected rows into their slots, reading only those
//! rows (in place where the column layout allows, else only the blocks that hold them).

use std::ops::Range;

use roaring::RoaringBitmap;

use super::num::{BlockVisitor, Num, NumSource};
use super::pick::{PickAcc, StringPickAcc};
use super::sketch::{CardinalityAcc, HyperUniqueAcc};
use super::spec::{AggKind, AggSpec, NumOp, NumType};
use super::value::{AggValue, fold};
use crate::query::error::QueryResult;
use crate::query::exec::view::SegmentView;
use crate::query::filter::eval::evaluate;

/// An aggregator bound to one segment.
pub trait Accumulator {
    /// Sets the number of slots to `slots`, every slot at its initial value.
    fn reset(&mut self, slots: usize);
    /// Adds slots at their initial value up to `slots`.
    fn grow(&mut self, slots: usize);
    /// Folds every row of `rows` into `slot`.
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()>;
    /// Folds `rows[i]` into `slots[i]`; rows are in ascending order (repeats allowed).
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()>;
    /// Returns the value of `slot`.
    fn value(&self, slot: u32) -> QueryResult<AggValue>;
}

/// Binds every aggregator to the view's segment.
pub fn bind_all<'v>(
    specs: &[AggSpec],
    view: &mut SegmentView<'v>,
) -> QueryResult<Vec<Box<dyn Accumulator + 'v>>> {
    specs.iter().map(|spec| bind(spec, view)).collect()
}

/// Binds one aggregator to the view's segment.
pub fn bind<'v>(
    spec: &AggSpec,
    view: &mut SegmentView<'v>,
) -> QueryResult<Box<dyn Accumulator + 'v>> {
    let column = match &spec.field {
        Some(field) => view.column(field)?,
        None => None,
    };
    let inner: Box<dyn Accumulator + 'v> = match &spec.kind {
        AggKind::Count => Box::new(CountAcc::default()),
        AggKind::Numeric(t, op @ (NumOp::First | NumOp::Last)) => Box::new(PickAcc::new(
            *t,
            *op == NumOp::Last,
            NumSource::new(column)?,
            view.time().clone(),
        )),
        AggKind::Numeric(t, op) => {
            let source = NumSource::new(column)?;
            match t {
                NumType::Long => Box::new(FoldAcc::<i64>::new(source, *op)),
                NumType::Double => Box::new(FoldAcc::<f64>::new(source, *op)),
                NumType::Float => Box::new(FoldAcc::<f32>::new(source, *op)),
            }
        }
        AggKind::StringFirstLast { last, max_bytes } => Box::new(StringPickAcc::new(
            column,
            *last,
            *max_bytes,
            view.time().clone(),
        )),
        AggKind::HyperUnique { .. } => Box::new(HyperUniqueAcc::new(column)?),
        AggKind::Cardinality { fields, by_row, .. } => {
            Box::new(CardinalityAcc::new(fields, *by_row, view)?)
        }
    };
    match &spec.filter {
        None => Ok(inner),
        Some(filter) => Ok(Box::new(FilteredAcc {
            inner,
            rows_opt: evaluate(filter, view)?,
            rows: Vec::new(),
            slots: Vec::new(),
        })),
    }
}

/// `count`.
#[derive(Debug, Default)]
struct CountAcc {
    counts: Vec<i64>,
}

impl Accumulator for CountAcc {
    fn reset(&mut self, slots: usize) {
        self.counts.clear();
        self.counts.resize(slots, 0);
    }
    fn grow(&mut self, slots: usize) {
        if slots > self.counts.len() {
            self.counts.resize(slots, 0);
        }
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        self.counts[slot as usize] += rows.len() as i64;
        Ok(())
    }
    fn add_rows(&mut self, _rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        for slot in slots {
            self.counts[*slot as usize] += 1;
        }
        Ok(())
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        Ok(AggValue::Long(self.counts[slot as usize]))
    }
}

/// Sum, min or max of a numeric source.
struct FoldAcc<T: Num> {
    source: NumSource,
    op: NumOp,
    initial: T,
    values: Vec<T>,
}

impl<T: Num> FoldAcc<T> {
    fn new(source: NumSource, op: NumOp) -> Self {
        let initial = match AggValue::initial(&AggKind::Numeric(NumType::Double, op)) {
            AggValue::Double(v) => T::from_f64(v),
            _ => T::default(),
        };
        FoldAcc {
            source,
            op,
            initial,
            values: Vec::new(),
        }
    }
}

struct RangeFold<T> {
    acc: T,
    op: NumOp,
}

impl<T: Num> BlockVisitor<T> for RangeFold<T> {
    #[inline]
    fn visit<S: Copy, C: Fn(S) -> T>(&mut self, _rows: Range<u32>, values: &[S], convert: C) {
        let acc = self.acc;
        self.acc = match self.op {
            NumOp::Sum => values.iter().fold(acc, |a, v| a.add(convert(*v))),
            NumOp::Min => values
                .iter()
                .fold(acc, |a, v| fold(NumOp::Min, a, convert(*v))),
            _ => values
                .iter()
                .fold(acc, |a, v| fold(NumOp::Max, a, convert(*v))),
        };
    }
}

impl<T: Num> Accumulator for FoldAcc<T> {
    fn reset(&mut self, slots: usize) {
        self.values.clear();
        self.values.resize(slots, self.initial);
    }
    fn grow(&mut self, slots: usize) {
        if slots > self.values.len() {
            self.values.resize(slots, self.initial);
        }
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let slot = slot as usize;
        let mut visitor = RangeFold {
            acc: self.values[slot],
            op: self.op,
        };
        if self.source.for_each_block(rows, &mut visitor)? {
            self.values[slot] = visitor.acc;
        } else {
            self.values[slot] = fold(self.op, self.values[slot], T::default());
        }
        Ok(())
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let values = &mut self.values;
        let read = match self.op {
            NumOp::Sum => self.source.gather(rows, |i, v: T| {
                let slot = &mut values[slots[i] as usize];
                *slot = slot.add(v);
            })?,
            op => self.source.gather(rows, |i, v: T| {
                let slot = &mut values[slots[i] as usize];
                *slot = fold(op, *slot, v);
            })?,
        };
        if !read {
            for slot in slots {
                let v = &mut self.values[*slot as usize];
                *v = fold(self.op, *v, T::default());
            }
        }
        Ok(())
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        Ok(self.values[slot as usize].value())
    }
}

/// `filtered`: passes on only the rows of its filter.
struct FilteredAcc<'v> {
    inner: Box<dyn Accumulator + 'v>,
    rows_opt: Option<RoaringBitmap>,
    rows: Vec<u32>,
    slots: Vec<u32>,
}

impl Accumulator for FilteredAcc<'_> {
    fn reset(&mut self, slots: usize) {
        self.inner.reset(slots)
    }
    fn grow(&mut self, slots: usize) {
        self.inner.grow(slots)
    }
    fn add_range(&mut self, rows: Range<u32>, slot: u32) -> QueryResult<()> {
        let Some(bits) = &self.rows_opt else {
            return self.inner.add_range(rows, slot);
        };
        self.rows.clear();
        let mut iter = bits.iter();
        iter.advance_to(rows.start);
        self.rows.extend(iter.take_while(|r| *r < rows.end));
        self.slots.clear();
        self.slots.resize(self.rows.len(), slot);
        self.inner.add_rows(&self.rows, &self.slots)
    }
    fn add_rows(&mut self, rows: &[u32], slots: &[u32]) -> QueryResult<()> {
        let Some(bits) = &self.rows_opt else {
            return self.inner.add_rows(rows, slots);
        };
        self.rows.clear();
        self.slots.clear();
        for (row, slot) in rows.iter().zip(slots) {
            if bits.contains(*row) {
                self.rows.push(*row);
                self.slots.push(*slot);
            }
        }
        self.inner.add_rows(&self.rows, &self.slots)
    }
    fn value(&self, slot: u32) -> QueryResult<AggValue> {
        self.inner.value(slot)
    }
}
