//! Finding the end of a JSON string's plain run: 16 bytes at a time with SSE2 on x86_64,
//! eight at a time (SWAR) elsewhere and for the tail.

/// Position of the first `"`, `\\` or control character (< 0x20) at or after `from`.
#[inline(always)]
pub(super) fn special_byte(bytes: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    #[cfg(target_arch = "x86_64")]
    while pos + 16 <= bytes.len() {
        let mask = special_mask_16(&bytes[pos..pos + 16]);
        if mask != 0 {
            return Some(pos + mask.trailing_zeros() as usize);
        }
        pos += 16;
    }
    special_byte_swar(bytes, pos)
}

/// Bit i set when byte i of the 16 is `"`, `\\` or below 0x20.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special_mask_16(chunk: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    assert!(chunk.len() >= 16);
    // SAFETY: SSE2 is part of the x86_64 baseline, and the unaligned load reads the 16 bytes
    // of `chunk` (its length is checked above).
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Unsigned `v < 0x20` is `min(v, 0x1f) == v`.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// The same search, eight bytes at a time in a `u64`.
#[inline]
fn special_byte_swar(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut pos = from;
    while pos + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[pos..pos + 8].try_into().expect("eight bytes"));
        let quote = word ^ (ONES * b'"' as u64);
        let backslash = word ^ (ONES * b'\\' as u64);
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let found = found & HIGHS;
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    bytes[pos..]
        .iter()
        .position(|b| *b == b'"' || *b == b'\\' || *b < 0x20)
        .map(|p| pos + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(bytes: &[u8], from: usize) -> Option<usize> {
        (from..bytes.len()).find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1f))
    }

    #[test]
    fn finds_the_first_special_byte_at_any_position_and_length() {
        for len in 0..48usize {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    for from in 0..=at {
                        assert_eq!(special_byte(&bytes, from), Some(at), "{len} {at} {from}");
                        assert_eq!(special_byte_swar(&bytes, from), Some(at));
                    }
                }
            }
            assert_eq!(special_byte(&vec![b'a'; len], 0), None);
        }
    }

    #[test]
    fn high_bytes_and_space_are_not_special() {
        let bytes: Vec<u8> = (0x20..=0xffu8)
            .filter(|b| *b != b'"' && *b != b'\\')
            .collect();
        assert_eq!(special_byte(&bytes, 0), None);
        let mut all: Vec<u8> = (0..=0xffu8).rev().collect();
        all.extend(0..=0xffu8);
        for from in 0..all.len() {
            assert_eq!(special_byte(&all, from), naive(&all, from), "from {from}");
        }
    }
}
