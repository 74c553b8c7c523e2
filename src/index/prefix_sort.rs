//! A stable sort of `(prefix, row id)` pairs by prefix: the row sort's first step.
//!
//! Least-significant-digit radix passes of [`RADIX_BITS`] bits each read and write every pair
//! once per pass. A large index's pairs (16 MB per million rows) are far larger than the cache,
//! so from [`MSD_MIN_PAIRS`] pairs on the first pass splits them by their *most* significant
//! digit instead (where the time rank is: a persist's rows fall into parts of one or a few
//! minutes), and each part, small enough to stay in cache, is then sorted by the lower bits.

type Pair = (u64, u32);

/// Bits of the prefix sorted per radix pass.
pub(super) const RADIX_BITS: u32 = 11;
const DIGITS: usize = 1 << RADIX_BITS;
/// From this many pairs on, the first pass splits by the most significant digit.
const MSD_MIN_PAIRS: usize = 1 << 16;
/// Parts of at most this many pairs are sorted by insertion.
const INSERTION_MAX_PAIRS: usize = 32;

/// Sorts `pairs` by their first element, stably. `scratch` is the second buffer (any contents;
/// it ends up holding garbage).
pub(super) fn radix_sort_by_prefix(pairs: &mut Vec<Pair>, scratch: &mut Vec<Pair>) {
    sort_with(pairs, scratch, MSD_MIN_PAIRS);
}

fn sort_with(pairs: &mut Vec<Pair>, scratch: &mut Vec<Pair>, msd_min_pairs: usize) {
    let max = pairs.iter().map(|p| p.0).max().unwrap_or(0);
    let mut bits = u64::BITS - max.leading_zeros();
    scratch.clear();
    scratch.resize(pairs.len(), (0, 0));
    let mut counts = vec![0usize; DIGITS];
    if pairs.len() >= msd_min_pairs && bits > RADIX_BITS {
        let shift = bits - RADIX_BITS;
        if counting_pass(pairs, scratch, shift, &mut counts) {
            // `counts[d]` is now where the part of digit `d` ends in `scratch`.
            let ends = counts.clone();
            let mut start = 0;
            for end in ends {
                sort_part(
                    &mut scratch[start..end],
                    &mut pairs[start..end],
                    shift,
                    &mut counts,
                );
                start = end;
            }
            std::mem::swap(pairs, scratch);
            return;
        }
        // Every pair has the same top digit: only the lower bits order them.
        bits = shift;
    }
    if lsd_passes(pairs, scratch, bits, &mut counts) {
        std::mem::swap(pairs, scratch);
    }
}

/// Sorts `part` by the prefix bits below `bits` (the bits above are equal across the part),
/// with `temp` as the second buffer; the result is left in `part`.
fn sort_part(part: &mut [Pair], temp: &mut [Pair], bits: u32, counts: &mut [usize]) {
    if part.len() <= INSERTION_MAX_PAIRS {
        insertion_sort(part);
    } else if lsd_passes(part, temp, bits, counts) {
        part.copy_from_slice(temp);
    }
}

/// Least-significant-digit passes over the prefix bits below `bits`, back and forth between
/// `a` and `b`; true when the sorted pairs end up in `b` (an odd number of passes ran).
fn lsd_passes(a: &mut [Pair], b: &mut [Pair], bits: u32, counts: &mut [usize]) -> bool {
    let (mut from, mut to) = (a, b);
    let mut in_b = false;
    let mut shift = 0;
    while shift < bits {
        if counting_pass(from, to, shift, counts) {
            std::mem::swap(&mut from, &mut to);
            in_b = !in_b;
        }
        shift += RADIX_BITS;
    }
    in_b
}

/// A stable insertion sort by prefix (for parts of a few pairs).
fn insertion_sort(part: &mut [Pair]) {
    for i in 1..part.len() {
        let pair = part[i];
        let mut at = i;
        while at > 0 && part[at - 1].0 > pair.0 {
            part[at] = part[at - 1];
            at -= 1;
        }
        part[at] = pair;
    }
}

/// One stable counting pass of `from` into `to` by the digit at `shift`. Returns false, having
/// written nothing, when every pair has the same digit there (the pass would keep the order);
/// otherwise `counts[d]` ends as the end of digit `d`'s pairs in `to`.
fn counting_pass(from: &[Pair], to: &mut [Pair], shift: u32, counts: &mut [usize]) -> bool {
    let digit = |prefix: u64| ((prefix >> shift) as usize) & (DIGITS - 1);
    counts.fill(0);
    for pair in from {
        counts[digit(pair.0)] += 1;
    }
    if counts.contains(&from.len()) {
        return false;
    }
    let mut next = 0;
    for slot in counts.iter_mut() {
        (*slot, next) = (next, next + *slot);
    }
    for pair in from {
        let slot = &mut counts[digit(pair.0)];
        to[*slot] = *pair;
        *slot += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn prefixes() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(
            prop_oneof![
                0u64..4,
                0u64..5000,
                1u64 << 40..(1u64 << 40) + 70,
                any::<u64>()
            ],
            0..3000,
        )
    }

    fn check(prefixes: &[u64], msd_min_pairs: usize) -> Result<(), TestCaseError> {
        let mut pairs: Vec<Pair> = prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect();
        let mut expected = pairs.clone();
        expected.sort_by_key(|p| p.0);
        sort_with(&mut pairs, &mut Vec::new(), msd_min_pairs);
        prop_assert_eq!(pairs, expected);
        Ok(())
    }

    proptest! {
        #[test]
        fn radix_sort_is_a_stable_sort_by_prefix(prefixes in prefixes()) {
            check(&prefixes, MSD_MIN_PAIRS)?;
        }

        /// The same with the first pass by the top digit at every size (parts of every size,
        /// sorted by insertion or by passes).
        #[test]
        fn a_first_pass_by_the_top_digit_sorts_the_same(prefixes in prefixes()) {
            check(&prefixes, 0)?;
        }
    }
}
