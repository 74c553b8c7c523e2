//! The scanner's fast paths for the usual event: a member with the same key as the previous
//! event's member at that position, in compact JSON, whose value is a plain string or an
//! integer. Each either takes the bytes it expects or moves nothing, so the general scan can
//! read the member instead.

use super::ObjectScanner;
use super::ScanError;
use super::special_byte;

/// The bytes [`ObjectScanner::take_prefix`] matches for a member at `position` whose key's raw
/// text (as between its quotes) is `raw_key`, in compact JSON.
pub fn member_prefix(position: usize, raw_key: &str) -> Box<[u8]> {
    let separator = if position == 0 { "" } else { "," };
    format!("{separator}\"{raw_key}\":")
        .into_bytes()
        .into_boxed_slice()
}

impl<'a> ObjectScanner<'a> {
    /// Moves past `prefix` when the input continues with exactly these bytes: the separator, key
    /// and colon of the member the previous event had at this position (`"key":` for the first
    /// member, `,"key":` for the others, as [`member_prefix`] builds them). The same bytes are
    /// the same valid key, so nothing is scanned; a false return changes nothing, and the caller
    /// reads the member with [`next_key`](Self::next_key) instead. After a true return the
    /// value follows ([`value_after_colon`](Self::value_after_colon)).
    #[inline(always)]
    pub fn take_prefix(&mut self, prefix: &[u8]) -> bool {
        let end = self.pos + prefix.len();
        let matched = !self.done
            && self.first == (prefix.first() == Some(&b'"'))
            && self
                .bytes()
                .get(self.pos..end)
                .is_some_and(|b| crate::index::dictionary::bytes_eq(b, prefix));
        if matched {
            self.pos = end;
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
