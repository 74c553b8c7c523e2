//! Dimension indexers: turn one event's dimension value into the `u32` cell of a row key.
//!
//! Cell encoding (per dimension):
//! - `0` — null: missing, JSON null, `""` or an empty list (Druid's legacy null handling);
//! - `1 ..= 0x7FFF_FFFF` — one value, dictionary id + 1;
//! - `0x8000_0000 | list` — a multi-value row: `list` indexes interned lists of value cells
//!   (each element `0` for a null element or id + 1), arranged as the dimension's
//!   `multiValueHandling` says: sorted (null first, then Java string order), sorted without
//!   duplicates, or in input order.
//!
//! Numeric dimensions (`long`, `float`, `double`) intern their values the same way (null reads
//! as 0, Druid's legacy rule); their cells are never 0.

use std::cmp::Ordering;

use super::dictionary::{HASHER, IdTable, ListDictionary, StringDictionary};
use crate::config::{DimensionType, MultiValueHandling};
use crate::parse::DimValue;
use crate::segment::string_column::java_utf8_cmp;

/// Flag bit of a multi-value cell.
pub const MULTI_FLAG: u32 = 0x8000_0000;

/// Why a dimension value could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dimension `{dimension}`: cannot read `{value}` as a {kind}")]
pub struct DimensionValueError {
    /// Dimension name.
    pub dimension: String,
    /// Offending value.
    pub value: String,
    /// Expected type.
    pub kind: &'static str,
}

/// A dictionary of numbers stored by bit pattern.
#[derive(Debug, Default, Clone)]
pub struct NumberDictionary {
    values: Vec<u64>,
    table: IdTable,
}

impl NumberDictionary {
    fn intern(&mut self, bits: u64) -> u32 {
        let hash = std::hash::BuildHasher::hash_one(&HASHER, bits);
        let values = &self.values;
        if let Some(id) = self.table.find(hash, |id| values[id as usize] == bits) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(bits);
        self.table.insert(hash, id);
        id
    }

    /// The bit pattern of `id`.
    pub fn get(&self, id: u32) -> u64 {
        self.values[id as usize]
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The per-dimension state of an index.
#[derive(Debug, Clone)]
pub enum DimensionIndexer {
    /// Dictionary-encoded strings (and spatial dimensions).
    String {
        /// Single values.
        values: StringDictionary,
        /// Multi-value lists.
        lists: ListDictionary,
        /// How a row's several values are arranged.
        handling: MultiValueHandling,
    },
    /// Numbers (`long`, `float`, `double` by `kind`).
    Number {
        /// Which numeric type.
        kind: DimensionType,
        /// Distinct values.
        values: NumberDictionary,
    },
}

impl DimensionIndexer {
    /// An empty indexer for a dimension type (`handling` matters to strings only).
    pub fn new(kind: DimensionType, handling: MultiValueHandling) -> DimensionIndexer {
        match kind {
            DimensionType::String | DimensionType::Spatial => DimensionIndexer::String {
                values: StringDictionary::new(),
                lists: ListDictionary::default(),
                handling,
            },
            numeric => DimensionIndexer::Number {
                kind: numeric,
                values: NumberDictionary::default(),
            },
        }
    }

    /// Encodes a value as a cell, adding it to the dictionaries; `hash` is a single string
    /// value's hash from [`DimensionIndexer::prefetch`] (`0`: not computed).
    #[inline]
    pub fn encode(
        &mut self,
        name: &str,
        value: &DimValue<'_>,
        hash: u64,
        scratch: &mut Vec<u32>,
    ) -> Result<u32, DimensionValueError> {
        match self {
            DimensionIndexer::String {
                values,
                lists,
                handling,
            } => Ok(match value {
                DimValue::One(s) if hash != 0 && !s.is_empty() => values.intern_hashed(s, hash) + 1,
                _ => encode_string(values, lists, *handling, value, scratch),
            }),
            DimensionIndexer::Number { kind, values } => {
                let bits = number_bits(name, *kind, value)?;
                Ok(values.intern(bits) + 1)
            }
        }
    }

    /// Asks the CPU for the dictionary slot of a single string value (the cache miss `encode`
    /// would otherwise wait on) and returns the value's hash for `encode`; `0` (nothing done)
    /// for other values.
    #[inline]
    pub fn prefetch(&self, value: &DimValue<'_>) -> u64 {
        match (self, value) {
            (DimensionIndexer::String { values, .. }, DimValue::One(s)) if !s.is_empty() => {
                values.prefetch(s)
            }
            _ => 0,
        }
    }

    /// The cell `encode` would give `value` without adding anything: `None` when the value is
    /// not in the dictionary yet, or is not a single string value whose `hash` was computed.
    #[inline]
    pub fn known_cell(&self, value: &DimValue<'_>, hash: u64) -> Option<u32> {
        match (self, value) {
            (DimensionIndexer::String { .. }, DimValue::Null) => Some(0),
            (DimensionIndexer::String { .. }, DimValue::One(s)) if s.is_empty() => Some(0),
            (DimensionIndexer::String { values, .. }, DimValue::One(s)) if hash != 0 => {
                values.find_hashed(s, hash).map(|id| id + 1)
            }
            _ => None,
        }
    }

    /// Bytes held by the dictionaries.
    pub fn heap_bytes(&self) -> usize {
        match self {
            DimensionIndexer::String { values, lists, .. } => {
                values.heap_bytes() + lists.heap_bytes()
            }
            DimensionIndexer::Number { values, .. } => {
                values.values.capacity() * 8 + values.table.heap_bytes()
            }
        }
    }
}

#[inline]
fn encode_string(
    values: &mut StringDictionary,
    lists: &mut ListDictionary,
    handling: MultiValueHandling,
    value: &DimValue<'_>,
    scratch: &mut Vec<u32>,
) -> u32 {
    match value {
        DimValue::Null => 0,
        DimValue::One(s) if s.is_empty() => 0,
        DimValue::One(s) => values.intern(s) + 1,
        DimValue::Many(items) => {
            scratch.clear();
            for item in items {
                scratch.push(match item {
                    Some(s) if !s.is_empty() => values.intern(s) + 1,
                    _ => 0,
                });
            }
            arrange(values, handling, scratch);
            match scratch.len() {
                0 => 0,
                1 => scratch[0],
                _ => MULTI_FLAG | lists.intern(scratch),
            }
        }
    }
}

/// Arranges a multi-value row's cells as Druid's `multiValueHandling` says: sorted by value
/// (null — also `""` — first, then Java string order), also without duplicates, or as they came.
fn arrange(values: &StringDictionary, handling: MultiValueHandling, cells: &mut Vec<u32>) {
    if handling == MultiValueHandling::Array || cells.len() < 2 {
        return;
    }
    cells.sort_by(|a, b| match (*a, *b) {
        (0, 0) => Ordering::Equal,
        (0, _) => Ordering::Less,
        (_, 0) => Ordering::Greater,
        (a, b) => java_utf8_cmp(values.get_bytes(a - 1), values.get_bytes(b - 1)),
    });
    if handling == MultiValueHandling::SortedSet {
        cells.dedup();
    }
}

fn number_bits(
    name: &str,
    kind: DimensionType,
    value: &DimValue<'_>,
) -> Result<u64, DimensionValueError> {
    let text = match value {
        DimValue::Null => None,
        DimValue::One(s) if s.is_empty() => None,
        DimValue::One(s) => Some(s.as_ref()),
        // The smallest value, as before the values were arranged (Druid refuses lists here).
        DimValue::Many(items) => items
            .iter()
            .flatten()
            .min_by(|a, b| java_utf8_cmp(a.as_bytes(), b.as_bytes()))
            .map(|s| s.as_ref()),
    };
    let err = |kind_name: &'static str, v: &str| DimensionValueError {
        dimension: name.to_string(),
        value: v.chars().take(80).collect(),
        kind: kind_name,
    };
    Ok(match kind {
        DimensionType::Long => {
            let n = match text {
                None => 0,
                Some(t) => t
                    .trim()
                    .parse::<i64>()
                    .or_else(|_| t.trim().parse::<f64>().map(|x| x as i64))
                    .map_err(|_| err("long", t))?,
            };
            n as u64
        }
        DimensionType::Float => text
            .map(|t| t.trim().parse::<f32>().map_err(|_| err("float", t)))
            .transpose()?
            .unwrap_or(0.0)
            .to_bits() as u64,
        _ => text
            .map(|t| t.trim().parse::<f64>().map_err(|_| err("double", t)))
            .transpose()?
            .unwrap_or(0.0)
            .to_bits(),
    })
}

/// Compares two cells of one dimension in Druid's row order, given each value id's sorted rank.
pub fn compare_cells(a: u32, b: u32, ranks: &[u32], lists: Option<&ListDictionary>) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (a, b) {
        (0, _) => return Ordering::Less,
        (_, 0) => return Ordering::Greater,
        _ => {}
    }
    let a_list = cell_values(&a, lists);
    let b_list = cell_values(&b, lists);
    a_list.len().cmp(&b_list.len()).then_with(|| {
        for (x, y) in a_list.iter().zip(b_list.iter()) {
            let ord = rank_of(*x, ranks).cmp(&rank_of(*y, ranks));
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    })
}

/// The value cells a cell stands for (one for a single value, several for a list).
pub fn cell_values<'a>(cell: &'a u32, lists: Option<&'a ListDictionary>) -> &'a [u32] {
    if cell & MULTI_FLAG != 0 {
        lists.map(|l| l.get(cell & !MULTI_FLAG)).unwrap_or(&[])
    } else {
        std::slice::from_ref(cell)
    }
}

/// Rank of a value cell: 0 for null, else 1 + the sorted position of its id.
fn rank_of(cell: u32, ranks: &[u32]) -> u32 {
    if cell == 0 {
        0
    } else {
        ranks[(cell - 1) as usize] + 1
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::index::value_order::string_ranks;

    /// `known_cell` answers what `encode` gives a value already in the dictionary, and `None`
    /// for what it cannot answer without adding (a new value, a list, a number, no hash).
    #[test]
    fn known_cells_match_encoded_ones() {
        let mut dim = DimensionIndexer::new(DimensionType::String, MultiValueHandling::SortedArray);
        let mut scratch = Vec::new();
        let one = |s: &'static str| DimValue::One(Cow::Borrowed(s));
        let long = "a value longer than a slot's inline bytes, compared in the arena";
        for value in ["b", "a", long] {
            let hash = dim.prefetch(&one(value));
            let cell = dim.encode("d", &one(value), hash, &mut scratch).unwrap();
            assert_eq!(dim.known_cell(&one(value), hash), Some(cell), "{value}");
        }
        assert_eq!(dim.known_cell(&DimValue::Null, 0), Some(0));
        assert_eq!(dim.known_cell(&one(""), 0), Some(0));
        let unseen = one("c");
        assert_eq!(dim.known_cell(&unseen, dim.prefetch(&unseen)), None);
        assert_eq!(dim.known_cell(&one("a"), 0), None, "no hash, no answer");
        let list = DimValue::Many(vec![Some(Cow::Borrowed("a"))]);
        assert_eq!(dim.known_cell(&list, 0), None);
        let mut number =
            DimensionIndexer::new(DimensionType::Long, MultiValueHandling::SortedArray);
        number.encode("n", &one("7"), 0, &mut scratch).unwrap();
        assert_eq!(number.known_cell(&one("7"), 0), None);
        assert_eq!(number.known_cell(&DimValue::Null, 0), None);
    }

    #[test]
    fn encodes_nulls_singles_and_lists() {
        let mut dim = DimensionIndexer::new(DimensionType::String, MultiValueHandling::SortedArray);
        let mut scratch = Vec::new();
        let mut enc = |v: DimValue<'_>| dim.encode("d", &v, 0, &mut scratch).unwrap();
        assert_eq!(enc(DimValue::Null), 0);
        assert_eq!(enc(DimValue::One(Cow::Borrowed(""))), 0);
        assert_eq!(enc(DimValue::One(Cow::Borrowed("x"))), 1);
        assert_eq!(enc(DimValue::Many(vec![])), 0);
        assert_eq!(enc(DimValue::Many(vec![Some(Cow::Borrowed("x"))])), 1);
        let list = enc(DimValue::Many(vec![
            Some(Cow::Borrowed("a")),
            Some(Cow::Borrowed("x")),
        ]));
        assert_eq!(list, MULTI_FLAG);
        assert_eq!(
            enc(DimValue::Many(vec![
                Some(Cow::Borrowed("a")),
                Some(Cow::Borrowed("x"))
            ])),
            MULTI_FLAG
        );
    }

    #[test]
    fn numeric_dimensions_parse_or_refuse() {
        let mut dim = DimensionIndexer::new(DimensionType::Long, MultiValueHandling::SortedArray);
        let mut scratch = Vec::new();
        assert_eq!(
            dim.encode("n", &DimValue::One("42".into()), 0, &mut scratch),
            Ok(1)
        );
        assert_eq!(dim.encode("n", &DimValue::Null, 0, &mut scratch), Ok(2));
        assert!(
            dim.encode("n", &DimValue::One("forty".into()), 0, &mut scratch)
                .is_err()
        );
    }

    #[test]
    fn cells_compare_null_first_then_length_then_values() {
        let mut values = StringDictionary::new();
        let (b, a) = (values.intern("b"), values.intern("a"));
        let (_, ranks) = string_ranks(&values);
        let mut lists = ListDictionary::default();
        let ab = MULTI_FLAG | lists.intern(&[a + 1, b + 1]);
        assert_eq!(
            compare_cells(0, a + 1, &ranks, Some(&lists)),
            Ordering::Less
        );
        assert_eq!(
            compare_cells(a + 1, b + 1, &ranks, Some(&lists)),
            Ordering::Less
        );
        assert_eq!(
            compare_cells(b + 1, ab, &ranks, Some(&lists)),
            Ordering::Less,
            "shorter lists first"
        );
    }
}
