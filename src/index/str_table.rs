//! The hash table of a [`StringDictionary`](super::dictionary::StringDictionary): open
//! addressing with linear probing over 16-byte slots that hold the hash, the id and where the
//! value's bytes are, so a lookup touches one slot (usually one cache line) and then the
//! value's bytes, instead of control bytes, then a slot, then a span table, then the bytes.
//! For dictionaries far larger than the cache (a `page` dimension) each of those is a miss.

use super::dictionary::bytes_eq;

/// Slots are grown (doubled) before more than 7 in 10 are used.
const MAX_LOAD_TENTHS: usize = 7;
const MIN_SLOTS: usize = 16;

/// One slot; `id_plus_one == 0` marks it empty.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    tag: u32,
    id_plus_one: u32,
    start: u32,
    len: u32,
}

/// Ids of byte strings kept in an arena, found by a precomputed 64-bit hash.
#[derive(Debug, Default, Clone)]
pub struct StrTable {
    slots: Vec<Slot>,
    len: usize,
}

impl StrTable {
    /// The 32 hash bits a slot keeps; its home slot is their low bits, so growing needs no
    /// re-hash of the bytes.
    #[inline(always)]
    fn tag(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// Finds the id of `value` (hashed to `hash`), whose bytes are stored in `arena`.
    #[inline(always)]
    pub fn find(&self, hash: u64, value: &[u8], arena: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = Self::tag(hash);
        let mask = self.slots.len() - 1;
        let mut at = tag as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.id_plus_one == 0 {
                return None;
            }
            if slot.tag == tag && slot.len as usize == value.len() {
                let start = slot.start as usize;
                if bytes_eq(&arena[start..start + slot.len as usize], value) {
                    return Some(slot.id_plus_one - 1);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks the CPU for the home slot of `hash`, so that a [`StrTable::find`] of it a little
    /// later does not wait on that cache miss.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        let mask = self.slots.len().wrapping_sub(1);
        crate::segment::prefetch::prefetch_value(&self.slots, Self::tag(hash) as usize & mask);
    }

    /// Adds `id` (not present yet) whose bytes are `arena[start..start + len]`.
    pub fn insert(&mut self, hash: u64, id: u32, start: u32, len: u32) {
        if (self.len + 1) * 10 > self.slots.len() * MAX_LOAD_TENTHS {
            self.grow();
        }
        let slot = Slot {
            tag: Self::tag(hash),
            id_plus_one: id + 1,
            start,
            len,
        };
        self.place(slot);
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut at = slot.tag as usize & mask;
        while self.slots[at].id_plus_one != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot;
    }

    /// Doubles the slots.
    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); new_len]);
        for slot in old.into_iter().filter(|s| s.id_plus_one != 0) {
            self.place(slot);
        }
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Few distinct hashes force long probe runs and tag collisions between different values.
        #[test]
        fn finds_exactly_what_was_inserted(values in proptest::collection::vec("[ab]{0,3}", 0..200), hash_bits in 0u64..4) {
            let mut table = StrTable::default();
            let mut arena = Vec::new();
            let mut ids: Vec<String> = Vec::new();
            let hash_of = |v: &str| ((v.len() as u64 % (hash_bits + 1)) << 32) | hash_bits;
            for value in &values {
                // A hint only: on an empty table too, and it changes no answer.
                table.prefetch(hash_of(value));
                let found = table.find(hash_of(value), value.as_bytes(), &arena);
                let expected = ids.iter().position(|v| v == value).map(|i| i as u32);
                prop_assert_eq!(found, expected);
                if found.is_none() {
                    let start = arena.len() as u32;
                    arena.extend_from_slice(value.as_bytes());
                    table.insert(hash_of(value), ids.len() as u32, start, value.len() as u32);
                    ids.push(value.clone());
                }
            }
            for (id, value) in ids.iter().enumerate() {
                prop_assert_eq!(table.find(hash_of(value), value.as_bytes(), &arena), Some(id as u32));
            }
        }
    }
}
