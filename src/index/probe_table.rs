//! The scheme of the index's hash tables ([`StrTable`](super::str_table::StrTable),
//! [`IdTable`](super::dictionary::IdTable)): open addressing with linear probing over one
//! array of slots, each holding 32 bits of its key's hash (the tag) beside what it maps to.
//! The home slot is the tag's low bits, so growing moves slots without re-hashing keys, and a
//! lookup of a missing key usually stops at the first slot: one cache line, where a table with
//! separate control bytes touches two. For tables far larger than the cache (a `page`
//! dictionary, the minute tables of a replayed backlog) each line touched is a miss.

/// Slots are doubled before more than 7 in 10 are used.
const MAX_LOAD_TENTHS: usize = 7;
const MIN_SLOTS: usize = 16;

/// What a [`ProbeTable`] holds.
pub(super) trait Slot: Copy {
    /// The unused slot.
    const EMPTY: Self;
    /// True for [`Slot::EMPTY`].
    fn is_empty(&self) -> bool;
    /// The 32 hash bits the slot keeps.
    fn tag(&self) -> u32;
}

/// The 32 bits of a 64-bit hash a slot keeps.
#[inline(always)]
pub(super) fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Slots found by their tag and a caller's check of the key.
#[derive(Debug, Clone)]
pub(super) struct ProbeTable<S> {
    slots: Vec<S>,
    len: usize,
}

impl<S> Default for ProbeTable<S> {
    fn default() -> Self {
        ProbeTable {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<S: Slot> ProbeTable<S> {
    /// The first slot with tag `tag` that `is_key` accepts.
    #[inline(always)]
    pub fn find(&self, tag: u32, mut is_key: impl FnMut(&S) -> bool) -> Option<&S> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = tag as usize & mask;
        loop {
            let slot = &self.slots[at];
            if slot.is_empty() {
                return None;
            }
            if slot.tag() == tag && is_key(slot) {
                return Some(slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks the CPU for the home slot of `tag`, so that a [`ProbeTable::find`] of it a little
    /// later does not wait on that cache miss.
    #[inline(always)]
    pub fn prefetch(&self, tag: u32) {
        let mask = self.slots.len().wrapping_sub(1);
        crate::segment::prefetch::prefetch_value(&self.slots, tag as usize & mask);
    }

    /// Adds `slot`, whose key is not in the table yet.
    #[inline]
    pub fn insert(&mut self, slot: S) {
        if (self.len + 1) * 10 > self.slots.len() * MAX_LOAD_TENTHS {
            self.grow();
        }
        self.place(slot);
        self.len += 1;
    }

    #[inline(always)]
    fn place(&mut self, slot: S) {
        let mask = self.slots.len() - 1;
        let mut at = slot.tag() as usize & mask;
        while !self.slots[at].is_empty() {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot;
    }

    /// Doubles the slots.
    #[cold]
    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![S::EMPTY; new_len]);
        for slot in old.into_iter().filter(|s| !s.is_empty()) {
            self.place(slot);
        }
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<S>()
    }

    /// Removes every slot, keeping the allocation.
    pub fn clear(&mut self) {
        self.slots.fill(S::EMPTY);
        self.len = 0;
    }
}
