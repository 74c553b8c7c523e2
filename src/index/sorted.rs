//! The index in Druid's row order with sorted dictionaries: what a persist writes.
//!
//! Rows sort by time, then by each dimension in dimension order (null first, shorter value lists
//! first, then values in Java string order — Druid's `Rowboat` order). Each string dimension gets
//! a sorted dictionary of the values rows actually use, with null as entry 0 when any row lacks a
//! value (Druid's null rule); a dimension no row has a value for is dropped.

use super::dimension::{DimensionIndexer, MULTI_FLAG, cell_values};
use super::incremental::IncrementalIndex;
use super::row_sort::{SortBuffers, sort_rows};
use super::value_order::{number_ranks, string_ranks};
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

impl Drop for SortedIndex<'_> {
    fn drop(&mut self) {
        SortBuffers::give_back_row_order(std::mem::take(&mut self.row_order));
    }
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
