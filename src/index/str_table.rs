//! The hash table of a [`StringDictionary`](super::dictionary::StringDictionary): open
//! addressing with linear probing over 64-byte slots, one cache line each, that hold the hash,
//! the id, where the value's bytes are in the arena and, for values of up to [`INLINE_BYTES`],
//! a copy of the bytes. A lookup of such a value touches one line (which the ingest loop
//! prefetches an event ahead); a longer value's compare reads the arena too. For dictionaries
//! far larger than the cache (a `page` dimension) each line touched is a miss.

use super::dictionary::bytes_eq;

/// Slots are grown (doubled) before more than 7 in 10 are used.
const MAX_LOAD_TENTHS: usize = 7;
const MIN_SLOTS: usize = 16;
/// Values of up to this many bytes are compared in their slot.
pub const INLINE_BYTES: usize = 48;

/// One slot; `id_plus_one == 0` marks it empty.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    tag: u32,
    id_plus_one: u32,
    start: u32,
    len: u32,
    /// The value's bytes when `len <= INLINE_BYTES` (then `inline[..len]`).
    inline: [u8; INLINE_BYTES],
}

const EMPTY: Slot = Slot {
    tag: 0,
    id_plus_one: 0,
    start: 0,
    len: 0,
    inline: [0; INLINE_BYTES],
};

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
            let slot = &self.slots[at];
            if slot.id_plus_one == 0 {
                return None;
            }
            if slot.tag == tag && slot.len as usize == value.len() {
                let stored = match slot.inline.get(..value.len()) {
                    Some(inline) => inline,
                    None => &arena[slot.start as usize..slot.start as usize + value.len()],
                };
                if bytes_eq(stored, value) {
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

    /// Adds `id` (not present yet) whose bytes `value` are stored at `arena[start..]`.
    pub fn insert(&mut self, hash: u64, id: u32, start: u32, value: &[u8]) {
        if (self.len + 1) * 10 > self.slots.len() * MAX_LOAD_TENTHS {
            self.grow();
        }
        let mut slot = Slot {
            tag: Self::tag(hash),
            id_plus_one: id + 1,
            start,
            len: value.len() as u32,
            ..EMPTY
        };
        if let Some(inline) = slot.inline.get_mut(..value.len()) {
            inline.copy_from_slice(value);
        }
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
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; new_len]);
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
        /// Few distinct hashes force long probe runs and tag collisions between different values;
        /// values around [`INLINE_BYTES`] long are compared in their slot or in the arena.
        #[test]
        fn finds_exactly_what_was_inserted(values in proptest::collection::vec("[ab]{0,3}|[ab]{46,50}", 0..200), hash_bits in 0u64..4) {
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
                    table.insert(hash_of(value), ids.len() as u32, start, value.as_bytes());
                    ids.push(value.clone());
                }
            }
            for (id, value) in ids.iter().enumerate() {
                prop_assert_eq!(table.find(hash_of(value), value.as_bytes(), &arena), Some(id as u32));
            }
        }
    }
}
