//! The hash table of a [`StringDictionary`](super::dictionary::StringDictionary): a
//! [`ProbeTable`] of 64-byte slots, one cache line each, that hold the hash's tag, the id, where
//! the value's bytes are in the arena and, for values of up to [`INLINE_BYTES`], a copy of the
//! bytes. A lookup of such a value touches one line (which the ingest loop prefetches an event
//! ahead); a longer value's compare reads the arena too.

use super::dictionary::bytes_eq;
use super::probe_table::{ProbeTable, Slot, tag_of};

/// Values of up to this many bytes are compared in their slot.
pub const INLINE_BYTES: usize = 48;

/// One value; `id_plus_one == 0` marks the slot empty.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct ValueSlot {
    tag: u32,
    id_plus_one: u32,
    start: u32,
    len: u32,
    /// The value's bytes when `len <= INLINE_BYTES` (then `inline[..len]`).
    inline: [u8; INLINE_BYTES],
}

impl Slot for ValueSlot {
    const EMPTY: Self = ValueSlot {
        tag: 0,
        id_plus_one: 0,
        start: 0,
        len: 0,
        inline: [0; INLINE_BYTES],
    };

    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.id_plus_one == 0
    }

    #[inline(always)]
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// Ids of byte strings kept in an arena, found by a precomputed 64-bit hash.
#[derive(Debug, Default, Clone)]
pub struct StrTable {
    table: ProbeTable<ValueSlot>,
}

impl StrTable {
    /// Finds the id of `value` (hashed to `hash`), whose bytes are stored in `arena`.
    #[inline(always)]
    pub fn find(&self, hash: u64, value: &[u8], arena: &[u8]) -> Option<u32> {
        let slot = self.table.find(tag_of(hash), |slot| {
            slot.len as usize == value.len()
                && bytes_eq(
                    match slot.inline.get(..value.len()) {
                        Some(inline) => inline,
                        None => &arena[slot.start as usize..slot.start as usize + value.len()],
                    },
                    value,
                )
        })?;
        Some(slot.id_plus_one - 1)
    }

    /// Asks the CPU for the home slot of `hash`, so that a [`StrTable::find`] of it a little
    /// later does not wait on that cache miss.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        self.table.prefetch(tag_of(hash));
    }

    /// Adds `id` (not present yet) whose bytes `value` are stored at `arena[start..]`.
    pub fn insert(&mut self, hash: u64, id: u32, start: u32, value: &[u8]) {
        let mut slot = ValueSlot {
            tag: tag_of(hash),
            id_plus_one: id + 1,
            start,
            len: value.len() as u32,
            ..ValueSlot::EMPTY
        };
        if let Some(inline) = slot.inline.get_mut(..value.len()) {
            inline.copy_from_slice(value);
        }
        self.table.insert(slot);
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
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
