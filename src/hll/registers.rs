//! Exact per-bucket registers in three sizes: inline, sorted sparse array, dense array.
//!
//! The representation is a function of the number of non-zero registers only (inline up to
//! [`INLINE_CAPACITY`], sparse up to [`SPARSE_MAX_LEN`], dense beyond), and registers only grow,
//! so a collector never needs to shrink back.

use super::NUM_BUCKETS;

/// Non-zero registers kept inside the struct without a heap allocation.
pub(super) const INLINE_CAPACITY: usize = 5;
/// Largest sparse length: 512 packed `u32` words take 2048 bytes, the size of the dense array.
pub(super) const SPARSE_MAX_LEN: usize = 512;
/// First heap capacity when the inline array overflows.
const SPARSE_MIN_CAPACITY: usize = 8;

/// Packs a bucket and its register into one word that sorts by bucket.
#[inline]
pub(super) fn pack(bucket: u16, value: u8) -> u32 {
    (u32::from(bucket) << 8) | u32::from(value)
}

/// Returns `(bucket, register)` of a packed word.
#[inline]
pub(super) fn unpack(word: u32) -> (u16, u8) {
    ((word >> 8) as u16, word as u8)
}

/// The registers of one collector; zero registers are not stored in the small forms.
#[derive(Clone, Debug)]
pub(super) enum Registers {
    /// `pairs[..len]`, packed, ascending by bucket.
    Inline {
        len: u8,
        pairs: [u32; INLINE_CAPACITY],
    },
    /// `pairs[..len]`, packed, ascending by bucket; `pairs.len()` is the capacity.
    Sparse { len: u16, pairs: Box<[u32]> },
    /// One register per bucket.
    Dense(Box<[u8; NUM_BUCKETS]>),
}

impl Default for Registers {
    fn default() -> Self {
        Registers::Inline {
            len: 0,
            pairs: [0; INLINE_CAPACITY],
        }
    }
}

impl PartialEq for Registers {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Registers::Dense(a), Registers::Dense(b)) => a == b,
            (Registers::Dense(_), _) | (_, Registers::Dense(_)) => false,
            _ => self.small_pairs() == other.small_pairs(),
        }
    }
}

impl Eq for Registers {}

impl Registers {
    /// Builds registers from packed pairs ascending by bucket, non-zero registers only.
    pub(super) fn from_sorted_pairs(sorted_pairs: &[u32]) -> Self {
        debug_assert!(sorted_pairs.windows(2).all(|w| w[0] >> 8 < w[1] >> 8));
        debug_assert!(sorted_pairs.iter().all(|&w| w as u8 != 0));
        let len = sorted_pairs.len();
        if len <= INLINE_CAPACITY {
            let mut pairs = [0; INLINE_CAPACITY];
            pairs[..len].copy_from_slice(sorted_pairs);
            Registers::Inline {
                len: len as u8,
                pairs,
            }
        } else if len <= SPARSE_MAX_LEN {
            let capacity = len.next_power_of_two().max(SPARSE_MIN_CAPACITY);
            let mut pairs = vec![0; capacity];
            pairs[..len].copy_from_slice(sorted_pairs);
            Registers::Sparse {
                len: len as u16,
                pairs: pairs.into_boxed_slice(),
            }
        } else {
            let mut dense = Box::new([0u8; NUM_BUCKETS]);
            for &word in sorted_pairs {
                let (bucket, value) = unpack(word);
                dense[usize::from(bucket)] = value;
            }
            Registers::Dense(dense)
        }
    }

    /// Builds registers from one value per bucket, choosing the representation by count.
    pub(super) fn from_dense(dense: Box<[u8; NUM_BUCKETS]>) -> Self {
        let num_non_zero = dense.iter().filter(|&&value| value != 0).count();
        if num_non_zero > SPARSE_MAX_LEN {
            return Registers::Dense(dense);
        }
        let pairs: Vec<u32> = (0..NUM_BUCKETS as u16)
            .zip(dense.iter())
            .filter(|&(_, &value)| value != 0)
            .map(|(bucket, &value)| pack(bucket, value))
            .collect();
        Self::from_sorted_pairs(&pairs)
    }

    /// Returns the packed non-zero pairs of the inline or sparse form (empty for dense).
    #[inline]
    pub(super) fn small_pairs(&self) -> &[u32] {
        match self {
            Registers::Inline { len, pairs } => &pairs[..usize::from(*len)],
            Registers::Sparse { len, pairs } => &pairs[..usize::from(*len)],
            Registers::Dense(_) => &[],
        }
    }

    /// Returns the number of non-zero registers.
    pub(super) fn num_non_zero(&self) -> usize {
        match self {
            Registers::Dense(dense) => dense.iter().filter(|&&value| value != 0).count(),
            _ => self.small_pairs().len(),
        }
    }

    /// Returns true when every register is zero.
    pub(super) fn is_empty(&self) -> bool {
        // INVARIANT: the dense form only exists with more than SPARSE_MAX_LEN non-zero registers.
        debug_assert!(!matches!(self, Registers::Dense(_)) || self.num_non_zero() > SPARSE_MAX_LEN);
        self.small_pairs().is_empty() && !matches!(self, Registers::Dense(_))
    }

    /// Returns the heap bytes owned.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Registers::Inline { .. } => 0,
            Registers::Sparse { pairs, .. } => std::mem::size_of_val(&**pairs),
            Registers::Dense(_) => NUM_BUCKETS,
        }
    }

    /// Raises the register of `bucket` to at least `value` (`value` must be non-zero).
    #[inline]
    pub(super) fn set_max(&mut self, bucket: u16, value: u8) {
        debug_assert!(value != 0 && usize::from(bucket) < NUM_BUCKETS);
        match self {
            Registers::Dense(dense) => {
                let register = &mut dense[usize::from(bucket) & (NUM_BUCKETS - 1)];
                *register = (*register).max(value);
            }
            Registers::Inline { len, pairs } => {
                let live = &mut pairs[..usize::from(*len)];
                match live.iter().position(|&word| word >> 8 >= u32::from(bucket)) {
                    Some(index) if live[index] >> 8 == u32::from(bucket) => {
                        live[index] = live[index].max(pack(bucket, value));
                    }
                    found => {
                        let index = found.unwrap_or(live.len());
                        self.insert_small(index, pack(bucket, value));
                    }
                }
            }
            Registers::Sparse { len, pairs } => {
                let live = &mut pairs[..usize::from(*len)];
                match live.binary_search_by_key(&bucket, |&word| (word >> 8) as u16) {
                    Ok(index) => live[index] = live[index].max(pack(bucket, value)),
                    Err(index) => self.insert_small(index, pack(bucket, value)),
                }
            }
        }
    }

    /// Inserts a new packed pair at `index` of the inline or sparse form, growing it as needed.
    fn insert_small(&mut self, index: usize, word: u32) {
        match self {
            Registers::Inline { len, pairs } if usize::from(*len) < INLINE_CAPACITY => {
                let live_len = usize::from(*len);
                pairs.copy_within(index..live_len, index + 1);
                pairs[index] = word;
                *len += 1;
            }
            Registers::Sparse { len, pairs } if usize::from(*len) < pairs.len() => {
                let live_len = usize::from(*len);
                pairs.copy_within(index..live_len, index + 1);
                pairs[index] = word;
                *len += 1;
            }
            _ => self.grow_and_insert(index, word),
        }
    }

    /// Moves a full inline or sparse form to the next size, then inserts.
    #[cold]
    fn grow_and_insert(&mut self, index: usize, word: u32) {
        let old = self.small_pairs();
        let new_len = old.len() + 1;
        if new_len > SPARSE_MAX_LEN {
            let mut dense = Box::new([0u8; NUM_BUCKETS]);
            for &old_word in old.iter().chain(std::iter::once(&word)) {
                let (bucket, value) = unpack(old_word);
                dense[usize::from(bucket)] = value;
            }
            *self = Registers::Dense(dense);
            return;
        }
        let capacity = new_len
            .next_power_of_two()
            .clamp(SPARSE_MIN_CAPACITY, SPARSE_MAX_LEN);
        let mut pairs = Vec::with_capacity(capacity);
        pairs.extend_from_slice(&old[..index]);
        pairs.push(word);
        pairs.extend_from_slice(&old[index..]);
        pairs.resize(capacity, 0);
        *self = Registers::Sparse {
            len: new_len as u16,
            pairs: pairs.into_boxed_slice(),
        };
    }

    /// Raises every register to at least the matching register of `other`.
    pub(super) fn merge(&mut self, other: &Registers) {
        match (&mut *self, other) {
            (Registers::Dense(mine), Registers::Dense(theirs)) => {
                for (register, &value) in mine.iter_mut().zip(theirs.iter()) {
                    *register = (*register).max(value);
                }
            }
            (Registers::Dense(_), _) => self.merge_pairs_one_by_one(other.small_pairs()),
            (_, Registers::Dense(theirs)) => {
                let mut dense = theirs.clone();
                for &word in self.small_pairs() {
                    let (bucket, value) = unpack(word);
                    let register = &mut dense[usize::from(bucket)];
                    *register = (*register).max(value);
                }
                *self = Registers::Dense(dense);
            }
            _ if other.small_pairs().len() <= INLINE_CAPACITY * 2 => {
                self.merge_pairs_one_by_one(other.small_pairs());
            }
            _ => {
                let merged = merge_sorted_pairs(self.small_pairs(), other.small_pairs());
                *self = Registers::from_sorted_pairs(&merged);
            }
        }
    }

    fn merge_pairs_one_by_one(&mut self, packed_pairs: &[u32]) {
        for &word in packed_pairs {
            let (bucket, value) = unpack(word);
            self.set_max(bucket, value);
        }
    }

    /// Calls `visit(bucket, register)` for every non-zero register in ascending bucket order.
    #[inline]
    pub(super) fn for_each_non_zero(&self, mut visit: impl FnMut(u16, u8)) {
        match self {
            Registers::Dense(dense) => {
                for (bucket, &value) in (0..NUM_BUCKETS as u16).zip(dense.iter()) {
                    if value != 0 {
                        visit(bucket, value);
                    }
                }
            }
            _ => {
                for &word in self.small_pairs() {
                    let (bucket, value) = unpack(word);
                    visit(bucket, value);
                }
            }
        }
    }
}

/// Merges two packed pair lists ascending by bucket, keeping the larger register per bucket.
fn merge_sorted_pairs(left: &[u32], right: &[u32]) -> Vec<u32> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut left_index, mut right_index) = (0, 0);
    while left_index < left.len() && right_index < right.len() {
        let (left_word, right_word) = (left[left_index], right[right_index]);
        match (left_word >> 8).cmp(&(right_word >> 8)) {
            std::cmp::Ordering::Less => {
                merged.push(left_word);
                left_index += 1;
            }
            std::cmp::Ordering::Greater => {
                merged.push(right_word);
                right_index += 1;
            }
            std::cmp::Ordering::Equal => {
                merged.push(left_word.max(right_word));
                left_index += 1;
                right_index += 1;
            }
        }
    }
    merged.extend_from_slice(&left[left_index..]);
    merged.extend_from_slice(&right[right_index..]);
    merged
}
