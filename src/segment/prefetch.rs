//! Software prefetch for gathers: reading the values of scattered rows (a sparse filter's
//! selection) waits on one cache miss per row; asking for the line of a row some rows ahead
//! overlaps those misses.

/// How many selected rows ahead a gather asks for.
pub const AHEAD_ROWS: usize = 16;

/// Hints the CPU to load the cache line holding `bytes[at]`; nothing when `at` is out of range
/// or on other architectures.
#[inline(always)]
pub fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = bytes.get(at) {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint with no architectural effect (it cannot fault), and the
        // pointer comes from a live, in-bounds reference; SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((byte as *const u8).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// [`prefetch`] of the cache line holding `values[at]`.
#[inline(always)]
pub fn prefetch_value<T>(values: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(value) = values.get(at) {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: as in `prefetch`: a hint that cannot fault, from a live in-bounds reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (values, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_out_of_range_never_panics() {
        // The only behaviour to check: a hint past the end (a gather's last rows ask for rows
        // beyond the selection's block) is ignored rather than indexed.
        let bytes = [1u8, 2, 3];
        for at in [0, 2, 3, 4096, usize::MAX] {
            prefetch(&bytes, at);
        }
        prefetch(&[], 0);
        let longs = [1i64, 2];
        for at in [0, 1, 2, usize::MAX] {
            prefetch_value(&longs, at);
        }
    }
}
