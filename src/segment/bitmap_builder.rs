//! Builds the per-value roaring bitmaps of a string column from `(row, id)` pairs arriving in row
//! order.
//!
//! Appending each row to its value's bitmap as it arrives costs two cache misses per row once
//! the dictionary is large (the builder, then its buffer): it was most of a persist. Instead the
//! pairs of a window of rows are buffered in arrival order (sequential writes), then
//! counting-sorted by id and appended to each bitmap as one sorted run. Memory stays bounded by
//! the window whatever the row count.

use roaring::RoaringBitmap;

/// Values buffered before they are sorted into the bitmaps (4 MiB of ids per column).
const WINDOW_VALUES: usize = 1 << 20;

/// The bitmaps of one column, built incrementally.
#[derive(Debug)]
pub(crate) struct BitmapIndexBuilder {
    bitmaps: Vec<RoaringBitmap>,
    window_ids: Vec<u32>,
    window_rows: Vec<u32>,
    /// Per id: its count in the window, then the next write position of its run.
    positions: Vec<u32>,
    sorted_rows: Vec<u32>,
}

impl BitmapIndexBuilder {
    /// Empty bitmaps for `cardinality` ids.
    pub(crate) fn new(cardinality: usize) -> Self {
        BitmapIndexBuilder {
            bitmaps: vec![RoaringBitmap::new(); cardinality],
            window_ids: Vec::new(),
            window_rows: Vec::new(),
            positions: vec![0; cardinality],
            sorted_rows: Vec::new(),
        }
    }

    /// Marks `row` in the bitmap of `id`. Rows must not decrease; a pair repeated (the same id
    /// twice in a multi-value row) is kept once.
    #[inline]
    pub(crate) fn push(&mut self, row: u32, id: u32) {
        self.window_ids.push(id);
        self.window_rows.push(row);
        if self.window_ids.len() >= WINDOW_VALUES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.window_ids.is_empty() {
            return;
        }
        for id in &self.window_ids {
            self.positions[*id as usize] += 1;
        }
        // Counts → run starts; ids absent from the window keep an empty run.
        let mut start = 0u32;
        for slot in self.positions.iter_mut() {
            let count = *slot;
            *slot = start;
            start += count;
        }
        self.sorted_rows.resize(self.window_ids.len(), 0);
        for (id, row) in self.window_ids.iter().zip(&self.window_rows) {
            let slot = &mut self.positions[*id as usize];
            self.sorted_rows[*slot as usize] = *row;
            *slot += 1;
        }
        // Now `positions[id]` is the end of id's run, and the start is the previous end.
        let mut run_start = 0usize;
        for (id, end) in self.positions.iter_mut().enumerate() {
            let run_end = *end as usize;
            *end = 0;
            if run_end > run_start {
                append_run(&mut self.bitmaps[id], &self.sorted_rows[run_start..run_end]);
            }
            run_start = run_end;
        }
        self.window_ids.clear();
        self.window_rows.clear();
    }

    /// The finished bitmaps, by id.
    pub(crate) fn finish(mut self) -> Vec<RoaringBitmap> {
        self.flush();
        self.bitmaps
    }
}

/// Appends a run of non-decreasing rows, skipping repeats and rows already in the bitmap.
fn append_run(bitmap: &mut RoaringBitmap, rows: &[u32]) {
    // The common run (single-value columns) is strictly increasing above the bitmap: appended
    // as it is. `append` stops at the first row that is not, after appending the ones before.
    let appended = match bitmap.append(rows.iter().copied()) {
        Ok(_) => return,
        Err(stop) => stop.valid_until() as usize,
    };
    let rows = &rows[appended..];
    let max_opt = bitmap.max();
    let mut last_opt = max_opt;
    let fresh = rows.iter().copied().filter(|row| {
        let keep = last_opt.is_none_or(|last| *row > last);
        if keep {
            last_opt = Some(*row);
        }
        keep
    });
    // INVARIANT: rows arrive in non-decreasing order across windows, and the filter keeps a
    // strictly increasing sequence above the bitmap's maximum.
    bitmap
        .append(fresh)
        .expect("rows are appended in increasing order");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_equal_naive_insertion_across_windows_and_repeats() {
        let cardinality = 37;
        let mut builder = BitmapIndexBuilder::new(cardinality);
        let mut naive = vec![RoaringBitmap::new(); cardinality];
        let mut state = 12345u64;
        let rows = WINDOW_VALUES as u32 + 5000;
        for row in 0..rows {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = ((state >> 33) % cardinality as u64) as u32;
            builder.push(row, id);
            naive[id as usize].insert(row);
            if row % 7 == 0 {
                // A multi-value row naming the same id twice.
                builder.push(row, id);
            }
        }
        assert_eq!(builder.finish(), naive);
    }

    #[test]
    fn ids_never_pushed_get_empty_bitmaps() {
        let mut builder = BitmapIndexBuilder::new(4);
        builder.push(0, 2);
        builder.push(3, 2);
        let bitmaps = builder.finish();
        assert!(bitmaps[0].is_empty() && bitmaps[1].is_empty() && bitmaps[3].is_empty());
        assert_eq!(bitmaps[2].iter().collect::<Vec<_>>(), vec![0, 3]);
    }
}
