//! Word-at-a-time (SWAR) byte search for the JSON scanner.

/// Position of the first `"`, `\\` or control character (< 0x20) at or after `from`: eight
/// bytes at a time (SWAR), since JSON strings are short and a SIMD search costs more to set up.
#[inline]
pub(super) fn special_byte(bytes: &[u8], from: usize) -> Option<usize> {
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
