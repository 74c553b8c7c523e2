//! A validating scanner for the top level of one JSON object, the ingest hot path.
//!
//! It walks `{"key": value, …}` once, yielding each key and a borrowed view of its value:
//! strings as slices of the input (unescaped only when they contain `\`), numbers as their text,
//! nested arrays and objects as their raw text after checking their syntax. Anything that is not
//! exactly one RFC 8259 object (trailing garbage, raw control characters in strings, bad
//! escapes, bad numbers, nesting deeper than [`MAX_DEPTH`]) is an error, as in a full parser.

use std::borrow::Cow;

use super::swar::special_byte;

mod fast;
pub use fast::MemberPrefix;

/// Deepest nesting accepted inside a value.
pub const MAX_DEPTH: usize = 128;

/// A JSON syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct ScanError {
    /// What was expected or found.
    pub what: &'static str,
    /// Byte offset in the input.
    pub at: usize,
}

/// A value at the top level of the object, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue<'a> {
    /// A string's content (quotes removed, escapes resolved).
    Str(Cow<'a, str>),
    /// An integer that fits an `i64`, already read.
    Long(i64),
    /// Any other number's text (fraction, exponent, or too many digits).
    Number(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array's raw text, brackets included.
    Array(&'a str),
    /// An object's raw text, braces included.
    Object(&'a str),
}

/// A member's key as read by [`ObjectScanner::next_key`].
#[derive(Debug, Clone, PartialEq)]
pub enum Key<'a> {
    /// The key the caller expected at this position.
    Expected,
    /// Another key.
    New {
        /// The key as written between its quotes (escapes not resolved).
        raw: &'a str,
        /// The key (escapes resolved).
        text: Cow<'a, str>,
    },
}

/// Scans the members of one JSON object.
#[derive(Debug)]
pub struct ObjectScanner<'a> {
    text: &'a str,
    pos: usize,
    first: bool,
    done: bool,
}

impl<'a> ObjectScanner<'a> {
    /// Starts at the opening brace (leading whitespace allowed).
    pub fn new(text: &'a str) -> Result<ObjectScanner<'a>, ScanError> {
        let mut scanner = ObjectScanner {
            text,
            pos: 0,
            first: true,
            done: false,
        };
        scanner.skip_ws();
        scanner.expect(b'{', "expected `{`")?;
        Ok(scanner)
    }

    /// The next member, or `None` after the closing brace (then checks nothing trails it).
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<(Cow<'a, str>, RawValue<'a>)>, ScanError> {
        let key = match self.next_key(None)? {
            Some(Key::New { text, .. }) => text,
            Some(Key::Expected) => unreachable!("no key was expected"),
            None => return Ok(None),
        };
        Ok(Some((key, self.next_value()?)))
    }

    /// The next member's key, or `None` after the closing brace (then checks nothing trails
    /// it). When the input holds exactly the raw key text `expected` here (what this position
    /// held in the previous event), returns [`Key::Expected`] without scanning it again: the
    /// same bytes are the same valid key, and they end where the key ended before. `expected`
    /// must be a raw key text that a scan accepted (the `raw` of a [`Key::New`]).
    #[inline]
    pub fn next_key(&mut self, expected: Option<&[u8]>) -> Result<Option<Key<'a>>, ScanError> {
        if self.done {
            return Ok(None);
        }
        // Compact JSON has `,"` right here.
        if !self.first && self.bytes().get(self.pos..self.pos + 2) == Some(b",\"") {
            self.pos += 2;
        } else if !self.key_start_slow()? {
            return Ok(None);
        }
        if let Some(raw) = expected {
            let end = self.pos + raw.len();
            if self.bytes().get(end) == Some(&b'"')
                && crate::index::dictionary::bytes_eq(&self.bytes()[self.pos..end], raw)
            {
                self.pos = end + 1;
                return Ok(Some(Key::Expected));
            }
        }
        let start = self.pos;
        let text = self.string_body()?;
        let raw = self.slice(start, self.pos - 1);
        Ok(Some(Key::New { raw, text }))
    }

    /// Reads up to a key's opening quote, whitespace allowed: returns true there, or false after
    /// the closing brace of an empty object.
    fn key_start_slow(&mut self) -> Result<bool, ScanError> {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            if !self.first {
                return Err(self.error("expected a member after `,`"));
            }
            self.close()?;
            return Ok(false);
        }
        if !self.first {
            self.expect(b',', "expected `,` or `}`")?;
            self.skip_ws();
        }
        self.first = false;
        self.expect(b'"', "expected a key")?;
        Ok(true)
    }

    /// The value after a key read by [`next_key`](Self::next_key) (the `:` included).
    #[inline]
    pub fn next_value(&mut self) -> Result<RawValue<'a>, ScanError> {
        if self.peek() == Some(b':') {
            self.pos += 1;
        } else {
            self.skip_ws();
            self.expect(b':', "expected `:`")?;
        }
        self.value_after_colon()
    }

    /// The value of a member whose key and `:` have been read.
    #[inline(always)]
    pub fn value_after_colon(&mut self) -> Result<RawValue<'a>, ScanError> {
        self.skip_ws();
        let value = self.value()?;
        self.after_value()?;
        Ok(value)
    }

    /// After a member's value: compact JSON has the next member's `,` right here; anything else
    /// is looked at again (whitespace, then the closing brace and the end of the input).
    #[inline(always)]
    fn after_value(&mut self) -> Result<(), ScanError> {
        if self.peek() != Some(b',') {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                self.finish()?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), ScanError> {
        self.pos += 1;
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ScanError> {
        self.done = true;
        self.skip_ws();
        if self.pos != self.text.len() {
            return Err(self.error("unexpected text after the object"));
        }
        Ok(())
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The input between two byte offsets, without `str` slicing's char-boundary checks: every
    /// offset the scanner slices at is next to an ASCII byte it has just read (a quote, a
    /// bracket, a brace, a digit or the end of a literal), and such an offset is always a char
    /// boundary of UTF-8 text.
    #[inline(always)]
    fn slice(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.bytes()[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `self.text` is valid UTF-8 and `start`, `end` are char boundaries (above), so
        // the bytes between them are valid UTF-8; the range itself is bounds-checked.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn error(&self, what: &'static str) -> ScanError {
        ScanError { what, at: self.pos }
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), ScanError> {
        if self.peek() != Some(byte) {
            return Err(self.error(what));
        }
        self.pos += 1;
        Ok(())
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn value(&mut self) -> Result<RawValue<'a>, ScanError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                Ok(RawValue::Str(self.string_body()?))
            }
            Some(b'[') => {
                self.skip_nested(0)?;
                Ok(RawValue::Array(self.slice(start, self.pos)))
            }
            Some(b'{') => {
                self.skip_nested(0)?;
                Ok(RawValue::Object(self.slice(start, self.pos)))
            }
            Some(b't') => self.literal("true", RawValue::Bool(true)),
            Some(b'f') => self.literal("false", RawValue::Bool(false)),
            Some(b'n') => self.literal("null", RawValue::Null),
            Some(b'-' | b'0'..=b'9') => match self.number()? {
                Some(n) => Ok(RawValue::Long(n)),
                None => Ok(RawValue::Number(self.slice(start, self.pos))),
            },
            _ => Err(self.error("expected a value")),
        }
    }

    #[inline(always)]
    fn literal(
        &mut self,
        word: &'static str,
        value: RawValue<'a>,
    ) -> Result<RawValue<'a>, ScanError> {
        if !self.bytes()[self.pos..].starts_with(word.as_bytes()) {
            return Err(self.error("invalid literal"));
        }
        self.pos += word.len();
        Ok(value)
    }

    /// Reads a string after its opening quote; borrowed unless it has escapes.
    #[inline(always)]
    fn string_body(&mut self) -> Result<Cow<'a, str>, ScanError> {
        let start = self.pos;
        let bytes = self.bytes();
        let mut escaped = false;
        loop {
            self.pos = special_byte(bytes, self.pos).ok_or(ScanError {
                what: "unterminated string",
                at: start,
            })?;
            match bytes[self.pos] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(self.error("control character in a string")),
            }
        }
        let body = self.slice(start, self.pos);
        self.pos += 1;
        if !escaped {
            return Ok(Cow::Borrowed(body));
        }
        let quoted = self.slice(start - 1, self.pos);
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(|_| ScanError {
                what: "invalid escape",
                at: start,
            })
    }

    /// Checks one escape sequence at `pos` (the backslash) and moves past it.
    fn escape(&mut self) -> Result<(), ScanError> {
        let next = self.bytes().get(self.pos + 1).copied();
        match next {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 2,
            Some(b'u') => {
                let hex = self
                    .bytes()
                    .get(self.pos + 2..self.pos + 6)
                    .ok_or_else(|| self.error("short \\u escape"))?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(self.error("invalid \\u escape"));
                }
                self.pos += 6;
            }
            _ => return Err(self.error("invalid escape")),
        }
        Ok(())
    }

    /// RFC 8259 number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. Returns the value of
    /// an integer of at most 18 digits (which cannot overflow), read on the way.
    #[inline(always)]
    fn number(&mut self) -> Result<Option<i64>, ScanError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut value: i64 = 0;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    value = value.wrapping_mul(10).wrapping_add(i64::from(digit - b'0'));
                    self.pos += 1;
                }
            }
            _ => return Err(self.error("invalid number")),
        }
        let integer = self.pos - digits_start <= 18;
        let mut fraction_or_exponent = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
            fraction_or_exponent = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.required_digits()?;
            fraction_or_exponent = true;
        }
        Ok((integer && !fraction_or_exponent).then_some(if negative { -value } else { value }))
    }

    #[inline(always)]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), ScanError> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            return Err(self.error("invalid number"));
        }
        Ok(())
    }

    /// Skips an array or object at `pos`, checking its syntax.
    fn skip_nested(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let (open, close) = if self.peek() == Some(b'[') {
            (b'[', b']')
        } else {
            (b'{', b'}')
        };
        self.expect(open, "expected `[` or `{`")?;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.expect(b'"', "expected a key")?;
                self.string_body()?;
                self.skip_ws();
                self.expect(b':', "expected `:`")?;
                self.skip_ws();
            }
            match self.peek() {
                Some(b'[' | b'{') => self.skip_nested(depth + 1)?,
                _ => {
                    self.value()?;
                }
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or a closing bracket")),
            }
        }
    }
}

/// Reads the elements of an array's raw text (as returned in [`RawValue::Array`]).
pub fn array_elements(raw: &str) -> Result<Vec<RawValue<'_>>, ScanError> {
    let mut scanner = ObjectScanner {
        text: raw,
        pos: 1,
        first: true,
        done: false,
    };
    let mut out = Vec::new();
    scanner.skip_ws();
    if scanner.peek() == Some(b']') {
        return Ok(out);
    }
    loop {
        scanner.skip_ws();
        out.push(scanner.value()?);
        scanner.skip_ws();
        match scanner.peek() {
            Some(b',') => scanner.pos += 1,
            Some(b']') => return Ok(out),
            _ => return Err(scanner.error("expected `,` or `]`")),
        }
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
