//! The scanner's fast paths for the usual event: a member with the same key as the previous
//! event's member at that position, in compact JSON, whose value is a plain string or an
//! integer. Each either takes the bytes it expects or moves nothing, so the general scan can
//! read the member instead.

use super::ObjectScanner;
use super::ScanError;
use super::special_byte;

/// The bytes [`ObjectScanner::take_prefix`] matches for a member: separator, quoted key and
/// colon as compact JSON has them, and for the usual short key the same in two words with the
/// masks of their used bytes, compared without a loop.
#[derive(Debug, Clone)]
pub struct MemberPrefix {
    bytes: Box<[u8]>,
    /// The first 16 bytes (zero-padded), as two little-endian words.
    words: [u64; 2],
    /// Which bytes of `words` belong to the prefix (all-zero when it is longer than 16).
    masks: [u64; 2],
}

impl MemberPrefix {
    /// The prefix of a member at `position` whose key's raw text (as between its quotes) is
    /// `raw_key`: `"key":` for the first member, `,"key":` for the others.
    pub fn new(position: usize, raw_key: &str) -> MemberPrefix {
        let separator = if position == 0 { "" } else { "," };
        let bytes = format!("{separator}\"{raw_key}\":").into_bytes();
        let mut head = [0u8; 16];
        let mut used = [0u8; 16];
        if bytes.len() <= 16 {
            head[..bytes.len()].copy_from_slice(&bytes);
            used[..bytes.len()].fill(0xff);
        }
        let word = |b: &[u8; 16], i: usize| {
            u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("eight bytes"))
        };
        MemberPrefix {
            words: [word(&head, 0), word(&head, 1)],
            masks: [word(&used, 0), word(&used, 1)],
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// True when `input` starts with the prefix.
    #[inline(always)]
    fn starts(&self, input: &[u8]) -> bool {
        if self.masks[0] != 0
            && let Some(head) = input.first_chunk::<16>()
        {
            let a = u64::from_le_bytes(head[..8].try_into().expect("eight bytes"));
            let b = u64::from_le_bytes(head[8..].try_into().expect("eight bytes"));
            return ((a ^ self.words[0]) & self.masks[0]) | ((b ^ self.words[1]) & self.masks[1])
                == 0;
        }
        input
            .get(..self.bytes.len())
            .is_some_and(|b| crate::index::dictionary::bytes_eq(b, &self.bytes))
    }
}

impl<'a> ObjectScanner<'a> {
    /// Moves past `prefix` when the input continues with exactly these bytes: the separator, key
    /// and colon of the member the previous event had at this position (`"key":` for the first
    /// member, `,"key":` for the others, as [`MemberPrefix::new`] builds them). The same bytes are
    /// the same valid key, so nothing is scanned; a false return changes nothing, and the caller
    /// reads the member with [`next_key`](Self::next_key) instead. After a true return the
    /// value follows ([`value_after_colon`](Self::value_after_colon)).
    #[inline(always)]
    pub fn take_prefix(&mut self, prefix: &MemberPrefix) -> bool {
        let matched = !self.done
            && self.first == (prefix.bytes.first() == Some(&b'"'))
            && self
                .bytes()
                .get(self.pos..)
                .is_some_and(|rest| prefix.starts(rest));
        if matched {
            self.pos += prefix.bytes.len();
            self.first = false;
        }
        matched
    }

    /// Like [`value_after_colon`](Self::value_after_colon) for a value that is a string without
    /// escapes right after the colon, the usual shape of a dimension: returns it, or `None`
    /// (having moved nothing) for any other value.
    #[inline(always)]
    pub fn plain_string_after_colon(&mut self) -> Result<Option<&'a str>, ScanError> {
        let bytes = self.bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return Ok(None);
        }
        let start = self.pos + 1;
        match special_byte(bytes, start) {
            Some(end) if bytes[end] == b'"' => {
                self.pos = end + 1;
                let text = self.slice(start, end);
                self.after_value()?;
                Ok(Some(text))
            }
            _ => Ok(None),
        }
    }

    /// Like [`value_after_colon`](Self::value_after_colon) for a value that is an integer of at
    /// most 18 digits right after the colon, the usual shape of a metric's input: returns it, or
    /// `None` (having moved nothing) for any other value.
    #[inline(always)]
    pub fn plain_long_after_colon(&mut self) -> Result<Option<i64>, ScanError> {
        let start = self.pos;
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Ok(None);
        }
        match self.number()? {
            Some(n) => {
                self.after_value()?;
                Ok(Some(n))
            }
            None => {
                self.pos = start;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_matches_exactly_its_bytes_at_any_length() {
        for key_len in 0..20 {
            let key: String = (0..key_len).map(|i| (b'a' + i as u8) as char).collect();
            for position in [0, 1] {
                let prefix = MemberPrefix::new(position, &key);
                let bytes = prefix.bytes.to_vec();
                for tail in [&b""[..], b"1", b"\"some value\",\"next\":2}"] {
                    let input = [&bytes[..], tail].concat();
                    assert!(prefix.starts(&input), "{input:?}");
                    assert!(!prefix.starts(&input[..bytes.len() - 1]));
                    for at in 0..bytes.len() {
                        let mut other = input.clone();
                        other[at] ^= 0x20;
                        assert!(!prefix.starts(&other), "{key_len} {at} {other:?}");
                    }
                }
            }
        }
    }
}
