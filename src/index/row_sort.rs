//! The row sort of a persist: row ids in Druid's `Rowboat` order (time, then each dimension in
//! dimension order: null first, shorter value lists first, then values in Java string order).
//!
//! Each row's cells map to one `u32` rank per dimension; the time rank and the leading
//! dimensions' ranks, packed in one word (as many as five radix passes sort), are radix-sorted
//! ([`prefix_sort`](super::prefix_sort)), and only the rows of runs of equal words are ranked
//! in the remaining dimensions and compared. A thread that sorts index after index (the
//! persist worker) can keep the sort's buffers ([`keep_sort_buffers_on_this_thread`]).

use std::cell::RefCell;

use super::dimension::{DimensionIndexer, MULTI_FLAG, compare_cells};
use super::incremental::IncrementalIndex;
use super::prefix_sort::{RADIX_BITS, radix_sort_by_prefix};

/// The row sort's working storage: 36 bytes per row, ~36 MB for a million rows.
#[derive(Debug, Default)]
pub(super) struct SortBuffers {
    /// Per row, (time rank and packed leading ranks, row id).
    order: Vec<(u64, u32)>,
    /// The radix sort's second buffer.
    radix: Vec<(u64, u32)>,
    /// Row ids in Druid order (lent to the [`SortedIndex`](super::SortedIndex) until it is
    /// dropped).
    row_order: Vec<u32>,
}

thread_local! {
    /// This thread's sort buffers, when it keeps them ([`keep_sort_buffers_on_this_thread`]).
    static SORT_BUFFERS: RefCell<Option<SortBuffers>> = const { RefCell::new(None) };
}

/// From now on, row sorts on this thread reuse one set of buffers instead of allocating their
/// 36 bytes per row afresh each time. For the persist worker, which sorts an index every few
/// seconds: on this project's VMs a page taken from long-free memory costs
/// a host fault (BENCHMARKS.md, "fresh pages cost a host fault"), and buffers this large are
/// mapped and unmapped by the allocator at every sort.
pub fn keep_sort_buffers_on_this_thread() {
    SORT_BUFFERS.with(|pool| {
        pool.borrow_mut().get_or_insert_with(SortBuffers::default);
    });
}

/// Lets this thread's kept sort buffers go (it keeps reusing buffers from its next sort on).
pub fn release_kept_sort_buffers() {
    SORT_BUFFERS.with(|pool| {
        if let Some(kept) = pool.borrow_mut().as_mut() {
            *kept = SortBuffers::default();
        }
    });
}

/// Bytes of buffers this thread keeps for its next sort.
#[cfg(test)]
pub(crate) fn kept_sort_buffer_bytes() -> usize {
    SORT_BUFFERS.with(|pool| {
        pool.borrow().as_ref().map_or(0, |kept| {
            4 * kept.row_order.capacity() + 16 * (kept.order.capacity() + kept.radix.capacity())
        })
    })
}

impl SortBuffers {
    /// This thread's kept buffers (emptied), or new ones.
    fn take() -> SortBuffers {
        SORT_BUFFERS
            .with(|pool| pool.borrow_mut().as_mut().map(std::mem::take))
            .unwrap_or_default()
    }

    /// Keeps the buffers for the next sort, on a thread that keeps them (all but the row
    /// order, which the [`SortedIndex`](super::SortedIndex) holds).
    fn give_back(self) {
        SORT_BUFFERS.with(|pool| {
            if let Some(kept) = pool.borrow_mut().as_mut() {
                let row_order = std::mem::take(&mut kept.row_order);
                *kept = SortBuffers { row_order, ..self };
            }
        });
    }

    /// Gives a finished sort's row order back.
    pub(super) fn give_back_row_order(row_order: Vec<u32>) {
        SORT_BUFFERS.with(|pool| {
            if let Some(kept) = pool.borrow_mut().as_mut() {
                kept.row_order = row_order;
            }
        });
    }
}

/// Row ids in Druid order. Each row's cells are first mapped to one `u32` rank per dimension
/// that orders exactly as Druid compares cells (null, then shorter value lists, then values),
/// so the sort compares plain integer slices.
pub(super) fn sort_rows(index: &IncrementalIndex, ranks: &[(Vec<u32>, Vec<u32>)]) -> Vec<u32> {
    let dims = ranks.len();
    let cell_ranks: Vec<Vec<u32>> = (0..dims)
        .map(|slot| list_ranks(index, slot, &ranks[slot].1))
        .collect();
    let rows = index.num_rows();
    let time_ranks = TimeRanks::new(index);
    let mut buffers = SortBuffers::take();
    // The time rank and the leading dimensions' ranks, each in as many bits as its largest
    // rank needs, are packed into one word, so that the radix sort decides most of the order
    // and only rows equal in all of them compare the rest: the first dimension always (it
    // fits: ranks are `u32`s), more while the word stays within five radix passes. In the
    // 10M-event benchmark (Zipf-popular pages and users) that is time, page, user, language
    // and country: the comparison sorts of ties took ~0.43 s of the run with only the first
    // dimension packed, ~0.03 s now, for two radix passes more (BENCHMARKS.md, "2026-12-05
    // 11:10").
    let rank_bits: Vec<u32> = ranks
        .iter()
        .zip(&cell_ranks)
        .map(|((value_ranks, _), list_ranks)| bits_for(1 + value_ranks.len() + list_ranks.len()))
        .collect();
    let (mut packed, mut packed_bits) = (0, bits_for(time_ranks.distinct.len()));
    let max_bits = max_packed_bits();
    while packed < dims && (packed == 0 || packed_bits + rank_bits[packed] <= max_bits) {
        packed_bits += rank_bits[packed];
        packed += 1;
    }
    // Per row: (time rank and packed ranks, row id).
    let mut order = std::mem::take(&mut buffers.order);
    order.clear();
    order.reserve(rows);
    // The previous row's time and rank (i64::MIN ranks 0, as it would if it were a row time).
    let mut last_time = (i64::MIN, 0);
    let rank_of = |cells: &[u32], slot: usize| {
        let cell = cells.get(slot).copied().unwrap_or(0);
        cell_rank(cell, &ranks[slot].1, &cell_ranks[slot])
    };
    for row in 0..rows {
        let cells = index.row_cells(row);
        let time = index.row_time(row);
        if time != last_time.0 {
            last_time = (time, time_ranks.rank(time));
        }
        let prefix = (0..packed)
            .zip(&rank_bits)
            .fold(u64::from(last_time.1), |prefix, (slot, bits)| {
                (prefix << bits) | u64::from(rank_of(cells, slot))
            });
        order.push((prefix, row as u32));
    }
    // The prefix decides most of the order: a radix sort of the 16-byte pairs, then each run
    // of equal prefixes by the ranks of its rows' other cells, found only for those rows.
    radix_sort_by_prefix(&mut order, &mut buffers.radix);
    if packed < dims {
        let rank_rest = |row: u32, key: &mut Vec<u32>| {
            let cells = index.row_cells(row as usize);
            key.extend((packed..dims).map(|slot| rank_of(cells, slot)));
        };
        let mut ties = TieSort::default();
        for run in order.chunk_by_mut(|a, b| a.0 == b.0) {
            if run.len() > 1 {
                ties.sort(run, dims - packed, rank_rest);
            }
        }
    }
    let mut row_order = std::mem::take(&mut buffers.row_order);
    row_order.clear();
    row_order.extend(order.iter().map(|&(_, row)| row));
    SortBuffers { order, ..buffers }.give_back();
    row_order
}

/// Sorts runs of rows with equal packed prefixes by the ranks of their remaining cells
/// (then by row id, so that equal rows keep their insertion order); its buffers serve every
/// run of one sort.
#[derive(Default)]
struct TieSort {
    /// The run's rows' remaining ranks, row after row.
    keys: Vec<u32>,
    /// Positions in the run, in sorted order.
    positions: Vec<u32>,
    /// The run's pairs, copied before they are rewritten in order.
    pairs: Vec<(u64, u32)>,
}

impl TieSort {
    fn sort(
        &mut self,
        run: &mut [(u64, u32)],
        width: usize,
        rank_rest: impl Fn(u32, &mut Vec<u32>),
    ) {
        self.keys.clear();
        for &(_, row) in run.iter() {
            rank_rest(row, &mut self.keys);
        }
        let keys = &self.keys;
        let key = |position: u32| &keys[position as usize * width..][..width];
        self.positions.clear();
        self.positions.extend(0..run.len() as u32);
        self.positions.sort_unstable_by(|&a, &b| {
            key(a)
                .cmp(key(b))
                .then(run[a as usize].1.cmp(&run[b as usize].1))
        });
        self.pairs.clear();
        self.pairs.extend_from_slice(run);
        for (slot, &position) in run.iter_mut().zip(&self.positions) {
            *slot = self.pairs[position as usize];
        }
    }
}

/// Bits needed to write `largest` (at most 32: ranks are `u32`s).
fn bits_for(largest: usize) -> u32 {
    (usize::BITS - largest.leading_zeros()).min(32)
}

/// Most bits of a prefix that holds more than the time rank and the first dimension (five
/// radix passes).
const MAX_PACKED_BITS: u32 = 5 * RADIX_BITS;

thread_local! {
    /// A smaller [`MAX_PACKED_BITS`] for this thread's sorts ([`limit_packed_bits`]).
    #[cfg(test)]
    static PACKED_BITS_LIMIT: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// From now on, this thread's sorts pack at most `bits` bits (the first dimension always), so
/// tests can compare the order found with fewer ranks packed.
#[cfg(test)]
pub(crate) fn limit_packed_bits(bits: Option<u32>) {
    PACKED_BITS_LIMIT.with(|limit| limit.set(bits));
}

fn max_packed_bits() -> u32 {
    #[cfg(test)]
    if let Some(bits) = PACKED_BITS_LIMIT.with(std::cell::Cell::get) {
        return bits;
    }
    MAX_PACKED_BITS
}

/// The rank of each distinct row time among the index's times (times are truncated to the
/// query granularity, so there are few of them: one per minute with `MINUTE`).
struct TimeRanks {
    distinct: Vec<i64>,
}

impl TimeRanks {
    fn new(index: &IncrementalIndex) -> TimeRanks {
        let mut distinct: Vec<i64> = Vec::new();
        for row in 0..index.num_rows() {
            let time = index.row_time(row);
            // Rows mostly arrive in time order: skip the repeats of the previous row's time.
            if distinct.last() != Some(&time) {
                distinct.push(time);
            }
        }
        distinct.sort_unstable();
        distinct.dedup();
        TimeRanks { distinct }
    }

    fn rank(&self, time: i64) -> u32 {
        // INVARIANT: every row time was collected in `new`, and an index holds fewer than
        // 2^32 rows.
        self.distinct.binary_search(&time).unwrap_or_else(|at| at) as u32
    }
}

/// The sort rank of a cell: 0 for null, `1 + value rank` for one value, and after every single
/// value the multi-value lists in their own order (`list_ranks`).
fn cell_rank(cell: u32, value_ranks: &[u32], list_ranks: &[u32]) -> u32 {
    match cell {
        0 => 0,
        c if c & MULTI_FLAG != 0 => {
            1 + value_ranks.len() as u32 + list_ranks[(c & !MULTI_FLAG) as usize]
        }
        c => 1 + value_ranks[(c - 1) as usize],
    }
}

/// Ranks of the multi-value lists of a string dimension: by length, then value by value.
fn list_ranks(index: &IncrementalIndex, slot: usize, value_ranks: &[u32]) -> Vec<u32> {
    let DimensionIndexer::String { lists, .. } = index.dimension(slot) else {
        return Vec::new();
    };
    let mut order: Vec<u32> = (0..lists.len() as u32).collect();
    order.sort_unstable_by(|a, b| {
        compare_cells(MULTI_FLAG | a, MULTI_FLAG | b, value_ranks, Some(lists))
    });
    let mut list_rank = vec![0u32; order.len()];
    for (rank, list) in order.iter().enumerate() {
        list_rank[*list as usize] = rank as u32;
    }
    list_rank
}
