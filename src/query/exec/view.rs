//! [`SegmentView`]: one hydrant as an engine reads it — cached column handles, row ranges of time
//! intervals (binary search on the sorted `__time` column) and cancellation.

use std::collections::HashMap;
use std::ops::Range;

use super::cancel::Cancel;
use crate::query::error::QueryResult;
use crate::query::spec::virtual_column::VirtualColumn;
use crate::segment::long_column::LongColumn;
use crate::segment::{Column, Segment};
use crate::time::Interval;

/// Rows handled between cancellation checks and the unit of chunked scans; a multiple of every
/// block size (64 Ki values at most), so a chunk never straddles a block.
pub const CHUNK_ROWS: u32 = 1 << 16;

/// A segment being queried.
#[derive(Debug)]
pub struct SegmentView<'a> {
    /// The segment.
    pub segment: &'a Segment,
    /// The query's stop signal.
    pub cancel: &'a Cancel,
    columns: HashMap<String, Option<Column>>,
    time: LongColumn,
    num_rows: u32,
    /// The query's virtual columns, materialized on first use.
    virtual_columns: &'a [VirtualColumn],
}

impl<'a> SegmentView<'a> {
    /// Opens a view.
    pub fn new(segment: &'a Segment, cancel: &'a Cancel) -> SegmentView<'a> {
        SegmentView {
            segment,
            cancel,
            columns: HashMap::new(),
            time: segment.time_column(),
            num_rows: segment.num_rows(),
            virtual_columns: &[],
        }
    }

    /// Opens a view for a query: with its virtual columns.
    pub fn for_query(segment: &'a Segment, env: super::Env<'a>) -> SegmentView<'a> {
        SegmentView {
            virtual_columns: env.virtual_columns,
            ..SegmentView::new(segment, env.cancel)
        }
    }

    /// Returns the number of rows.
    pub fn num_rows(&self) -> u32 {
        self.num_rows
    }

    /// Returns column `name` (`None` when the segment lacks it); `__time` is a long column; a
    /// virtual column of the query is materialized here, and shadows a stored one.
    pub fn column(&mut self, name: &str) -> QueryResult<Option<Column>> {
        if name == "__time" {
            return Ok(Some(Column::Long(self.time.clone())));
        }
        if let Some(found) = self.columns.get(name) {
            return Ok(found.clone());
        }
        let virtual_columns = self.virtual_columns;
        if let Some(virtual_column) = virtual_columns.iter().find(|v| v.name == name) {
            // A virtual column reading itself (directly or not) reads null there.
            self.columns.insert(name.to_string(), None);
            let column = super::virtual_columns::materialize(self, virtual_column)?;
            self.columns.insert(name.to_string(), column.clone());
            return Ok(column);
        }
        let column = self.segment.column(name)?;
        self.columns.insert(name.to_string(), column.clone());
        Ok(column)
    }

    /// Returns the time column.
    pub fn time(&self) -> &LongColumn {
        &self.time
    }

    /// Returns the time of `row`.
    pub fn time_at(&self, row: u32) -> QueryResult<i64> {
        Ok(self.time.get(row)?)
    }

    /// Returns the first and last row time, `None` when the segment is empty.
    pub fn time_range(&self) -> QueryResult<Option<(i64, i64)>> {
        if self.num_rows == 0 {
            return Ok(None);
        }
        Ok(Some((self.time_at(0)?, self.time_at(self.num_rows - 1)?)))
    }

    /// Returns the first row in `rows` whose time is at least `ms`.
    pub fn lower_bound(&self, ms: i64, rows: Range<u32>) -> QueryResult<u32> {
        let (mut low, mut high) = (rows.start, rows.end);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.time_at(mid)? < ms {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    /// Returns the rows whose time lies in `interval`.
    pub fn rows_in(&self, interval: &Interval) -> QueryResult<Range<u32>> {
        let Some((min_ms, max_ms)) = self.time_range()? else {
            return Ok(0..0);
        };
        let all = 0..self.num_rows;
        let start = if interval.start_ms <= min_ms {
            0
        } else {
            self.lower_bound(interval.start_ms, all.clone())?
        };
        let end = if interval.end_ms > max_ms {
            self.num_rows
        } else {
            self.lower_bound(interval.end_ms, start..self.num_rows)?
        };
        Ok(start..end.max(start))
    }
}
