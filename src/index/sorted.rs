//! The index in Druid's row order with sorted dictionaries: what a persist writes.
//!
//! Rows sort by time, then by each dimension in dimension order (null first, shorter value lists
//! first, then values in Java string order — Druid's `Rowboat` order). Each string dimension gets
//! a sorted dictionary of the values rows actually use, with null as entry 0 when any row lacks a
//! value (Druid's null rule); a dimension no row has a value for is dropped.

use super::dimension::{
    DimensionIndexer, MULTI_FLAG, cell_values, compare_cells, number_ranks, string_ranks,
};
use super::incremental::IncrementalIndex;
use crate::config::DimensionType;

/// One dimension's persist-time dictionary.
#[derive(Debug, Clone)]
pub struct SortedDimension {
    /// Dimension name.
    pub name: String,
    /// Index slot.
    pub slot: usize,
    /// Value type.
    pub kind: DimensionType,
    /// Index value ids in sorted order (used values only).
    pub sorted_ids: Vec<u32>,
    /// `out_id[id]`: the output dictionary id of index value id (`u32::MAX` when unused).
    pub out_id: Vec<u32>,
    /// True when some row has no value (null is output id 0).
    pub has_null: bool,
    /// True when some row has several values.
    pub multi_value: bool,
}

/// The index in persist order.
#[derive(Debug)]
pub struct SortedIndex<'a> {
    /// The index.
    pub index: &'a IncrementalIndex,
    /// Dimensions that have at least one value, in dimension order.
    pub dimensions: Vec<SortedDimension>,
    /// Row ids in Druid order.
    pub row_order: Vec<u32>,
}

impl<'a> SortedIndex<'a> {
    /// Sorts dictionaries and rows.
    pub fn new(index: &'a IncrementalIndex) -> SortedIndex<'a> {
        let ranks: Vec<(Vec<u32>, Vec<u32>)> = (0..index.dimension_names().len())
            .map(|slot| dimension_ranks(index.dimension(slot)))
            .collect();
        let row_order = sort_rows(index, &ranks);
        let usage = value_usage(index);
        let dimensions = usage
            .into_iter()
            .enumerate()
            .filter_map(|(slot, used)| sorted_dimension(index, slot, &ranks[slot].0, used))
            .collect();
        SortedIndex {
            index,
            dimensions,
            row_order,
        }
    }

    /// The output dictionary ids of dimension `dim` (an index into `dimensions`) for `cell`, the
    /// row's cell of that dimension's slot, written into `out` (empty for a multi-value row with
    /// no values never happens: null is 0).
    #[inline]
    pub fn output_ids(&self, dim: usize, cell: u32, out: &mut Vec<u32>) {
        out.clear();
        let d = &self.dimensions[dim];
        let lists = match self.index.dimension(d.slot) {
            DimensionIndexer::String { lists, .. } => Some(lists),
            DimensionIndexer::Number { .. } => None,
        };
        for value in cell_values(&cell, lists) {
            out.push(if *value == 0 {
                0
            } else {
                d.out_id[(*value - 1) as usize]
            });
        }
    }

    /// The output ids of dimension `dim` for `cells` (one row's cell each), appended to `ids`,
    /// with each row's end appended to `ends_opt` (multi-value dimensions).
    pub fn output_column(
        &self,
        dim: usize,
        cells: &[u32],
        ids: &mut Vec<u32>,
        ends_opt: Option<&mut Vec<u32>>,
    ) {
        let d = &self.dimensions[dim];
        match ends_opt {
            // Single values: one gather, its cache misses (a large dictionary's remap table)
            // overlapping from row to row.
            None if cells.iter().all(|c| c & MULTI_FLAG == 0) => {
                ids.extend(cells.iter().map(|&cell| match cell {
                    0 => 0,
                    value => d.out_id[value as usize - 1],
                }));
            }
            mut ends_opt => {
                let mut row_ids = Vec::new();
                for &cell in cells {
                    self.output_ids(dim, cell, &mut row_ids);
                    ids.extend_from_slice(&row_ids);
                    if let Some(ends) = ends_opt.as_deref_mut() {
                        ends.push(ids.len() as u32);
                    }
                }
            }
        }
    }
}

fn dimension_ranks(dim: &DimensionIndexer) -> (Vec<u32>, Vec<u32>) {
    match dim {
        DimensionIndexer::String { values, .. } => string_ranks(values),
        DimensionIndexer::Number { kind, values } => number_ranks(*kind, values),
    }
}

/// Row ids in Druid order. Each row's cells are first mapped to one `u32` rank per dimension
/// that orders exactly as Druid compares cells (null, then shorter value lists, then values),
/// so the sort compares plain integer slices.
fn sort_rows(index: &IncrementalIndex, ranks: &[(Vec<u32>, Vec<u32>)]) -> Vec<u32> {
    let dims = ranks.len();
    let cell_ranks: Vec<Vec<u32>> = (0..dims)
        .map(|slot| list_ranks(index, slot, &ranks[slot].1))
        .collect();
    let rows = index.num_rows();
    let time_ranks = TimeRanks::new(index);
    let mut keys = vec![0u32; rows * dims];
    // The first dimension's ranks fit in this many bits (the largest is the last list's), so
    // the time rank goes right above them and the radix sort has no all-zero digits to pass
    // over.
    let first_bits = match (ranks.first(), cell_ranks.first()) {
        (Some((_, value_ranks)), Some(list_ranks)) => {
            let largest = 1 + value_ranks.len() + list_ranks.len();
            // Ranks are `u32`s: never more than 32 bits, so the time rank fits above them.
            (usize::BITS - largest.leading_zeros()).min(32)
        }
        _ => 0,
    };
    // Per row: (time rank, first dimension's rank) packed into one word, and the row id.
    let mut order: Vec<(u64, u32)> = Vec::with_capacity(rows);
    // The previous row's time and rank (i64::MIN ranks 0, as it would if it were a row time).
    let mut last_time = (i64::MIN, 0);
    for row in 0..rows {
        let cells = index.row_cells(row);
        let key = &mut keys[row * dims..(row + 1) * dims];
        for (slot, rank) in key.iter_mut().enumerate() {
            let cell = cells.get(slot).copied().unwrap_or(0);
            *rank = cell_rank(cell, &ranks[slot].1, &cell_ranks[slot]);
        }
        let first = key.first().copied().unwrap_or(0);
        let time = index.row_time(row);
        if time != last_time.0 {
            last_time = (time, time_ranks.rank(time));
        }
        let prefix = (u64::from(last_time.1) << first_bits) | u64::from(first);
        order.push((prefix, row as u32));
    }
    // The ranks after the first (which is in the prefix).
    let rest = |row: u32| match dims {
        0 => &[][..],
        _ => &keys[row as usize * dims + 1..(row as usize + 1) * dims],
    };
    // The prefix decides most of the order without touching `keys`: a radix sort of the
    // 16-byte pairs, then each run of equal prefixes by the rest of its rows' ranks.
    radix_sort_by_prefix(&mut order);
    for run in order.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable_by(|&(_, a), &(_, b)| rest(a).cmp(rest(b)));
        }
    }
    order.into_iter().map(|(_, row)| row).collect()
}

/// Bits of the prefix sorted per radix pass.
const RADIX_BITS: u32 = 11;

/// Sorts `pairs` by their first element, stably: least significant digit first, one pass per
/// 11 bits the largest prefix uses (three for a day of minutes and a million values).
fn radix_sort_by_prefix(pairs: &mut Vec<(u64, u32)>) {
    let max = pairs.iter().map(|p| p.0).max().unwrap_or(0);
    let bits = u64::BITS - max.leading_zeros();
    let mut scratch = vec![(0u64, 0u32); pairs.len()];
    let mut shift = 0;
    while shift < bits {
        let digit = |prefix: u64| ((prefix >> shift) & ((1 << RADIX_BITS) - 1)) as usize;
        let mut starts = vec![0usize; 1 << RADIX_BITS];
        for pair in pairs.iter() {
            starts[digit(pair.0)] += 1;
        }
        if starts.contains(&pairs.len()) {
            // One digit for every pair: this pass would copy them in the same order.
            shift += RADIX_BITS;
            continue;
        }
        let mut next = 0;
        for slot in starts.iter_mut() {
            (*slot, next) = (next, next + *slot);
        }
        for pair in pairs.iter() {
            let slot = &mut starts[digit(pair.0)];
            scratch[*slot] = *pair;
            *slot += 1;
        }
        std::mem::swap(pairs, &mut scratch);
        shift += RADIX_BITS;
    }
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
        c if c & super::dimension::MULTI_FLAG != 0 => {
            1 + value_ranks.len() as u32 + list_ranks[(c & !super::dimension::MULTI_FLAG) as usize]
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
        compare_cells(
            super::dimension::MULTI_FLAG | a,
            super::dimension::MULTI_FLAG | b,
            value_ranks,
            Some(lists),
        )
    });
    let mut list_rank = vec![0u32; order.len()];
    for (rank, list) in order.iter().enumerate() {
        list_rank[*list as usize] = rank as u32;
    }
    list_rank
}

/// Which values of one dimension rows use.
struct Usage {
    used: Vec<bool>,
    has_null: bool,
    multi_value: bool,
}

/// The value usage of every dimension, in one pass over the rows (row-major: each row's cells
/// are read once, together).
fn value_usage(index: &IncrementalIndex) -> Vec<Usage> {
    let mut usage: Vec<Usage> = (0..index.dimension_names().len())
        .map(|slot| {
            let value_count = match index.dimension(slot) {
                DimensionIndexer::String { values, .. } => values.len(),
                DimensionIndexer::Number { values, .. } => values.len(),
            };
            Usage {
                used: vec![false; value_count],
                has_null: false,
                multi_value: false,
            }
        })
        .collect();
    let lists: Vec<_> = (0..usage.len())
        .map(|slot| match index.dimension(slot) {
            DimensionIndexer::String { lists, .. } => Some(lists),
            DimensionIndexer::Number { .. } => None,
        })
        .collect();
    for row_id in 0..index.num_rows() {
        let cells = index.row_cells(row_id);
        for (slot, u) in usage.iter_mut().enumerate() {
            let cell = cells.get(slot).copied().unwrap_or(0);
            let values = cell_values(&cell, lists[slot]);
            u.multi_value |= values.len() > 1;
            for value in values {
                match value {
                    0 => u.has_null = true,
                    v => u.used[(*v - 1) as usize] = true,
                }
            }
        }
    }
    usage
}

/// Builds the output dictionary of one dimension from the values rows use.
fn sorted_dimension(
    index: &IncrementalIndex,
    slot: usize,
    order: &[u32],
    usage: Usage,
) -> Option<SortedDimension> {
    let kind = match index.dimension(slot) {
        DimensionIndexer::String { .. } => DimensionType::String,
        DimensionIndexer::Number { kind, .. } => *kind,
    };
    let Usage {
        used,
        has_null,
        multi_value,
    } = usage;
    let value_count = used.len();
    let sorted_ids: Vec<u32> = order
        .iter()
        .copied()
        .filter(|id| used[*id as usize])
        .collect();
    if sorted_ids.is_empty() && kind == DimensionType::String {
        return None;
    }
    let base = u32::from(has_null && kind == DimensionType::String);
    let mut out_id = vec![u32::MAX; value_count];
    for (position, id) in sorted_ids.iter().enumerate() {
        out_id[*id as usize] = base + position as u32;
    }
    Some(SortedDimension {
        name: index.dimension_names()[slot].clone(),
        slot,
        kind,
        sorted_ids,
        out_id,
        has_null,
        multi_value,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::radix_sort_by_prefix;

    proptest! {
        #[test]
        fn radix_sort_is_a_stable_sort_by_prefix(
            prefixes in prop::collection::vec(prop_oneof![0u64..4, 0u64..5000, any::<u64>()], 0..3000),
        ) {
            let mut pairs: Vec<(u64, u32)> =
                prefixes.iter().enumerate().map(|(i, p)| (*p, i as u32)).collect();
            let mut expected = pairs.clone();
            expected.sort_by_key(|p| p.0);
            radix_sort_by_prefix(&mut pairs);
            prop_assert_eq!(pairs, expected);
        }
    }
}
