//! [`Grouper`]: assigns each selected row the slot of its dimension-value combination. When every
//! dimension's cardinality is known and their product is small, the slot is computed (an array
//! index, no hashing); otherwise combinations are hashed. Multi-value rows go to every
//! combination of their values.

use std::ops::Range;

use hashbrown::HashMap;

use super::dims::DimReader;
use crate::query::error::QueryResult;

/// Largest product of cardinalities grouped by array index.
const DENSE_MAX_SLOTS: usize = 1 << 20;

enum Mode {
    Dense { strides: Vec<u32>, size: usize },
    Hash(HashMap<Box<[u32]>, u32>),
}

/// Groups rows by their dimension values.
pub struct Grouper {
    dims: Vec<DimReader>,
    mode: Mode,
    touched: Vec<bool>,
    keys: Vec<Box<[u32]>>,
    ids: Vec<Vec<u32>>,
    key: Vec<u32>,
}

impl Grouper {
    /// Groups by `dims` (none: every row in slot 0).
    pub fn new(dims: Vec<DimReader>) -> Grouper {
        let mut size = 1usize;
        let mut strides = Vec::with_capacity(dims.len());
        let mut dense = true;
        for dim in dims.iter().rev() {
            match dim.fixed_cardinality() {
                Some(card) if size.saturating_mul(card.max(1)) <= DENSE_MAX_SLOTS => {
                    strides.push(size as u32);
                    size *= card.max(1);
                }
                _ => dense = false,
            }
        }
        strides.reverse();
        let mode = if dense {
            Mode::Dense { strides, size }
        } else {
            Mode::Hash(HashMap::new())
        };
        let count = dims.len();
        Grouper {
            dims,
            mode,
            touched: Vec::new(),
            keys: Vec::new(),
            ids: vec![Vec::new(); count],
            key: Vec::new(),
        }
    }

    /// Forgets the groups (a new time bucket starts).
    pub fn reset(&mut self) {
        match &mut self.mode {
            Mode::Dense { size, .. } => {
                self.touched.clear();
                self.touched.resize(*size, false);
            }
            Mode::Hash(map) => {
                map.clear();
                self.keys.clear();
            }
        }
    }

    /// Returns the number of slots in use (dense: every possible combination).
    pub fn slot_count(&self) -> usize {
        match &self.mode {
            Mode::Dense { size, .. } => *size,
            Mode::Hash(_) => self.keys.len(),
        }
    }

    /// Returns the grouping dimensions.
    pub fn dims(&self) -> &[DimReader] {
        &self.dims
    }

    /// Assigns slots to `rows` (ascending, inside `span`): `out_rows[i]` goes to `out_slots[i]`.
    pub fn assign(
        &mut self,
        span: Range<u32>,
        rows: &[u32],
        out_rows: &mut Vec<u32>,
        out_slots: &mut Vec<u32>,
    ) -> QueryResult<()> {
        out_rows.clear();
        out_slots.clear();
        if self.dims.iter().any(DimReader::is_multi_value) {
            for row in rows {
                self.assign_multi(*row, out_rows, out_slots)?;
            }
            return Ok(());
        }
        for (dim, ids) in self.dims.iter_mut().zip(self.ids.iter_mut()) {
            dim.ids(span.clone(), rows, ids)?;
        }
        out_rows.extend_from_slice(rows);
        match &mut self.mode {
            Mode::Dense { strides, .. } => {
                out_slots.resize(rows.len(), 0);
                for (ids, stride) in self.ids.iter().zip(strides.iter()) {
                    for (slot, id) in out_slots.iter_mut().zip(ids) {
                        *slot += id * stride;
                    }
                }
                for slot in out_slots.iter() {
                    self.touched[*slot as usize] = true;
                }
            }
            Mode::Hash(map) => {
                for i in 0..rows.len() {
                    self.key.clear();
                    self.key.extend(self.ids.iter().map(|ids| ids[i]));
                    out_slots.push(hash_slot(map, &mut self.keys, &self.key));
                }
            }
        }
        Ok(())
    }

    fn assign_multi(
        &mut self,
        row: u32,
        out_rows: &mut Vec<u32>,
        out_slots: &mut Vec<u32>,
    ) -> QueryResult<()> {
        for (dim, ids) in self.dims.iter_mut().zip(self.ids.iter_mut()) {
            dim.row_ids(row, ids)?;
        }
        let mut index = vec![0usize; self.dims.len()];
        loop {
            self.key.clear();
            self.key
                .extend(index.iter().zip(&self.ids).map(|(i, ids)| ids[*i]));
            let slot = match &mut self.mode {
                Mode::Dense { strides, .. } => {
                    let slot: u32 = self
                        .key
                        .iter()
                        .zip(strides.iter())
                        .map(|(k, s)| k * s)
                        .sum();
                    self.touched[slot as usize] = true;
                    slot
                }
                Mode::Hash(map) => hash_slot(map, &mut self.keys, &self.key),
            };
            out_rows.push(row);
            out_slots.push(slot);
            let mut d = self.dims.len();
            loop {
                if d == 0 {
                    return Ok(());
                }
                d -= 1;
                index[d] += 1;
                if index[d] < self.ids[d].len() {
                    break;
                }
                index[d] = 0;
            }
        }
    }

    /// Returns the slots that received rows, ascending.
    pub fn used_slots(&self) -> Vec<u32> {
        match &self.mode {
            Mode::Dense { .. } => self
                .touched
                .iter()
                .enumerate()
                .filter(|(_, t)| **t)
                .map(|(i, _)| i as u32)
                .collect(),
            Mode::Hash(_) => (0..self.keys.len() as u32).collect(),
        }
    }

    /// Appends the encoded dimension values of `slot` to `out` (see
    /// [`super::grouped::encode_value`]).
    pub fn write_key(&self, slot: u32, out: &mut Vec<u8>) -> QueryResult<()> {
        match &self.mode {
            Mode::Dense { strides, .. } => {
                let mut rest = slot;
                for (dim, stride) in self.dims.iter().zip(strides) {
                    super::grouped::encode_bytes(out, dim.value_bytes(rest / stride)?);
                    rest %= stride;
                }
            }
            Mode::Hash(_) => {
                for (dim, id) in self.dims.iter().zip(self.keys[slot as usize].iter()) {
                    super::grouped::encode_bytes(out, dim.value_bytes(*id)?);
                }
            }
        }
        Ok(())
    }
}

fn hash_slot(map: &mut HashMap<Box<[u32]>, u32>, keys: &mut Vec<Box<[u32]>>, key: &[u32]) -> u32 {
    if let Some(slot) = map.get(key) {
        return *slot;
    }
    let slot = keys.len() as u32;
    keys.push(key.into());
    map.insert(key.into(), slot);
    slot
}
