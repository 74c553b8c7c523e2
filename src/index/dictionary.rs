//! Per-dimension dictionaries of the in-memory index: value bytes → dense id, in first-seen
//! order. Strings live in one arena (no allocation per value); a hash table of ids finds them.
//! Multi-value rows intern their sorted id lists the same way, so a row key stays one `u32` per
//! dimension.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::probe_table::{ProbeTable, Slot, tag_of};
use super::str_table::StrTable;

/// The hasher every index table uses: foldhash with a fixed seed (deterministic runs).
pub(crate) const HASHER: FixedState = FixedState::with_seed(0x005e_ed0f_d01d);

/// Byte equality tuned for short keys: whole words (the first and last, overlapping, for
/// lengths that are not a multiple of the word), never a library call.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word =
        |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes"));
    let half =
        |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("four bytes"));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
    }
}

/// A hash table of dense ids: a [`ProbeTable`] of 8-byte slots (`tag << 32 | id + 1`, `0`
/// empty), so growing never re-hashes keys and most mismatches are rejected without touching
/// the keys.
#[derive(Debug, Default, Clone)]
pub struct IdTable {
    table: ProbeTable<u64>,
}

impl Slot for u64 {
    const EMPTY: Self = 0;

    #[inline(always)]
    fn is_empty(&self) -> bool {
        *self == 0
    }

    #[inline(always)]
    fn tag(&self) -> u32 {
        (*self >> 32) as u32
    }
}

impl IdTable {
    /// Finds the id whose key hashes to `hash` and satisfies `eq`.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let slot = self.table.find(tag_of(hash), |&slot| eq(slot as u32 - 1))?;
        Some(*slot as u32 - 1)
    }

    /// Asks the CPU for the home slot of `hash` (see [`IncrementalIndex::prefetch_rollup_slot`](
    /// super::IncrementalIndex::prefetch_rollup_slot)).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        self.table.prefetch(tag_of(hash));
    }

    /// Adds `id` (not present yet) under `hash`.
    #[inline]
    pub fn insert(&mut self, hash: u64, id: u32) {
        self.table
            .insert(((tag_of(hash) as u64) << 32) | (id as u64 + 1));
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Removes every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.table.clear();
    }
}

/// A dictionary of strings with dense ids `0..len`.
#[derive(Debug, Default, Clone)]
pub struct StringDictionary {
    arena: Vec<u8>,
    /// `(start, end)` of each id's bytes in `arena`.
    spans: Vec<(u32, u32)>,
    table: StrTable,
}

impl StringDictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when no value was added.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The UTF-8 bytes of the value of `id` (no re-check: for comparisons in hot loops).
    #[inline]
    pub fn get_bytes(&self, id: u32) -> &[u8] {
        let (start, end) = self.spans[id as usize];
        &self.arena[start as usize..end as usize]
    }

    /// The value of `id`.
    pub fn get(&self, id: u32) -> &str {
        let (start, end) = self.spans[id as usize];
        // SAFETY-free: the arena only ever receives whole `&str`s.
        std::str::from_utf8(&self.arena[start as usize..end as usize])
            .expect("arena holds whole UTF-8 strings")
    }

    /// Returns the id of `value`, adding it if new. Inlined into the row loop (a call costs
    /// more than the probe: ~20 instructions saving and restoring registers); adding is not.
    #[inline(always)]
    pub fn intern(&mut self, value: &str) -> u32 {
        self.intern_hashed(value, Self::hash(value))
    }

    /// [`StringDictionary::intern`] with `value`'s hash already computed by
    /// [`StringDictionary::hash`] (in [`StringDictionary::prefetch`]).
    #[inline(always)]
    pub fn intern_hashed(&mut self, value: &str, hash: u64) -> u32 {
        debug_assert_eq!(hash, Self::hash(value));
        if let Some(id) = self.table.find(hash, value.as_bytes(), &self.arena) {
            return id;
        }
        self.add(hash, value)
    }

    /// The id of `value` (hashed to `hash` by [`StringDictionary::hash`]), if present.
    #[inline(always)]
    pub fn find_hashed(&self, value: &str, hash: u64) -> Option<u32> {
        self.table.find(hash, value.as_bytes(), &self.arena)
    }

    /// The hash a value is looked up by (the same for every dictionary).
    #[inline(always)]
    pub fn hash(value: &str) -> u64 {
        HASHER.hash_one(value.as_bytes())
    }

    /// Asks the CPU for the table slot `value` would be found in (see [`StrTable::prefetch`]);
    /// returns `value`'s hash for [`StringDictionary::intern_hashed`].
    #[inline(always)]
    pub fn prefetch(&self, value: &str) -> u64 {
        let hash = Self::hash(value);
        self.table.prefetch(hash);
        hash
    }

    #[cold]
    #[inline(never)]
    fn add(&mut self, hash: u64, value: &str) -> u32 {
        let id = self.spans.len() as u32;
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(value.as_bytes());
        self.spans.push((start, self.arena.len() as u32));
        self.table.insert(hash, id, start, value.as_bytes());
        id
    }

    /// Looks a value up without adding it.
    pub fn lookup(&self, value: &str) -> Option<u32> {
        let hash = HASHER.hash_one(value.as_bytes());
        self.table.find(hash, value.as_bytes(), &self.arena)
    }

    /// Bytes held (arena, spans, table).
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.spans.capacity() * 8 + self.table.heap_bytes()
    }

    /// Iterates `(id, value)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        (0..self.len() as u32).map(move |id| (id, self.get(id)))
    }
}

/// Interned lists of ids (the sorted value ids of a multi-value row).
#[derive(Debug, Default, Clone)]
pub struct ListDictionary {
    arena: Vec<u32>,
    spans: Vec<(u32, u32)>,
    table: IdTable,
}

impl ListDictionary {
    /// Number of distinct lists.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when no list was added.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The list of `id`.
    pub fn get(&self, id: u32) -> &[u32] {
        let (start, end) = self.spans[id as usize];
        &self.arena[start as usize..end as usize]
    }

    /// Returns the id of `list`, adding it if new.
    pub fn intern(&mut self, list: &[u32]) -> u32 {
        let hash = HASHER.hash_one(list);
        let (arena, spans) = (&self.arena, &self.spans);
        let found = self.table.find(hash, |id| {
            let (start, end) = spans[id as usize];
            &arena[start as usize..end as usize] == list
        });
        if let Some(id) = found {
            return id;
        }
        let id = self.spans.len() as u32;
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(list);
        self.spans.push((start, self.arena.len() as u32));
        self.table.insert(hash, id);
        id
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() * 4 + self.spans.capacity() * 8 + self.table.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Keys hashed to few distinct tags force probe runs, wrap-around and tag collisions
        /// between different keys; growth and `clear` must lose nothing and find nothing stale.
        #[test]
        fn id_table_finds_exactly_what_was_inserted(keys in proptest::collection::vec(0u16..300, 0..400), tag_bits in 0u32..6) {
            let mut table = IdTable::default();
            for round in 0..2 {
                let mut ids: Vec<u16> = Vec::new();
                let hash_of = |k: u16| (u64::from(u32::from(k) & ((1 << tag_bits) - 1)) << 32) | u64::from(k);
                for &key in &keys {
                    let found = table.find(hash_of(key), |id| ids[id as usize] == key);
                    prop_assert_eq!(found, ids.iter().position(|&k| k == key).map(|i| i as u32), "round {}", round);
                    if found.is_none() {
                        table.insert(hash_of(key), ids.len() as u32);
                        ids.push(key);
                    }
                }
                for (id, &key) in ids.iter().enumerate() {
                    prop_assert_eq!(table.find(hash_of(key), |i| ids[i as usize] == key), Some(id as u32));
                }
                prop_assert!(table.heap_bytes() >= ids.len() * 8);
                table.clear();
                for &key in &keys {
                    prop_assert_eq!(table.find(hash_of(key), |_| true), None);
                }
            }
        }
    }

    #[test]
    fn interns_in_first_seen_order() {
        let mut dict = StringDictionary::new();
        assert_eq!(dict.intern("b"), 0);
        assert_eq!(dict.intern("a"), 1);
        assert_eq!(dict.intern("b"), 0);
        assert_eq!(dict.intern(""), 2);
        assert_eq!(dict.lookup("a"), Some(1));
        assert_eq!(dict.lookup("zz"), None);
        assert_eq!(
            dict.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            ["b", "a", ""]
        );
        for i in 0..10_000 {
            assert_eq!(dict.intern(&format!("v{i}")), 3 + i);
        }
        assert_eq!(dict.get(3 + 9_999), "v9999");
    }

    #[test]
    fn bytes_eq_sees_a_difference_at_any_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(bytes_eq(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!bytes_eq(&a, &b), "length {n}, position {i}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn bytes_eq_agrees_with_slice_equality(a in proptest::collection::vec(0u8..3, 0..40), b in proptest::collection::vec(0u8..3, 0..40)) {
            proptest::prop_assert_eq!(bytes_eq(&a, &b), a == b);
            proptest::prop_assert!(bytes_eq(&a, &a.clone()));
        }
    }

    #[test]
    fn interns_lists() {
        let mut lists = ListDictionary::default();
        assert_eq!(lists.intern(&[1, 2]), 0);
        assert_eq!(lists.intern(&[]), 1);
        assert_eq!(lists.intern(&[1, 2]), 0);
        assert_eq!(lists.get(0), &[1, 2]);
        assert!(lists.get(1).is_empty());
    }
}
