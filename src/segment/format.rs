//! Shared byte-level reading helpers: a bounds-checked cursor over a segment file and the
//! [`FormatError`] every structure reader returns before the reader adds file and column names.
//!
//! Every read checks the remaining length first, so a truncated or garbled file becomes an error
//! value, never a panic and never an allocation sized by untrusted bytes.

/// A structural problem found while decoding bytes, without file or column context yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The bytes contradict the format (truncated, out of range, inconsistent).
    #[error("{0}")]
    Corrupt(String),
    /// The bytes are valid Druid data in a form this reader does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// Returns a [`FormatError::Corrupt`] built from a message.
pub fn corrupt(message: impl Into<String>) -> FormatError {
    FormatError::Corrupt(message.into())
}

/// A forward-only reader over a byte slice; every method checks the remaining length.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Returns the current offset from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Returns the number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Returns the unread bytes without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes and returns the next `len_bytes` bytes.
    pub fn take(&mut self, len_bytes: usize, what: &str) -> Result<&'a [u8], FormatError> {
        if len_bytes > self.remaining() {
            return Err(corrupt(format!(
                "truncated {what}: needs {len_bytes} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + len_bytes];
        self.pos += len_bytes;
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a big-endian `i32`.
    pub fn i32_be(&mut self, what: &str) -> Result<i32, FormatError> {
        let bytes = self.take(4, what)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Reads a big-endian `i32` that must be `>= 0`, as a `usize`.
    pub fn len_be(&mut self, what: &str) -> Result<usize, FormatError> {
        let value = self.i32_be(what)?;
        usize::try_from(value).map_err(|_| corrupt(format!("negative {what} {value}")))
    }

    /// Reads a big-endian `i64`.
    pub fn i64_be(&mut self, what: &str) -> Result<i64, FormatError> {
        let bytes = self.take(8, what)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(i64::from_be_bytes(array))
    }

    /// Reads a serialized string: `i32be` length then UTF-8 bytes.
    pub fn string(&mut self, what: &str) -> Result<&'a str, FormatError> {
        let len_bytes = self.len_be(what)?;
        let bytes = self.take(len_bytes, what)?;
        std::str::from_utf8(bytes).map_err(|_| corrupt(format!("{what} is not UTF-8")))
    }
}

/// Appends a serialized string (`i32be` length then UTF-8 bytes) to `out`.
pub fn put_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields_and_strings() {
        let mut bytes = vec![0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];
        put_string(&mut bytes, "héllo");
        let mut cursor = Cursor::new(&bytes);
        assert_eq!(cursor.i32_be("a").unwrap(), 9);
        assert_eq!(cursor.i64_be("b").unwrap(), -2);
        assert_eq!(cursor.string("c").unwrap(), "héllo");
        assert_eq!(cursor.remaining(), 0);
    }

    #[test]
    fn truncation_and_negative_lengths_are_errors() {
        let mut cursor = Cursor::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(
            matches!(cursor.clone().len_be("len"), Err(FormatError::Corrupt(m)) if m.contains("negative"))
        );
        assert!(cursor.i64_be("x").is_err());
        assert_eq!(cursor.position(), 0);
        let mut short = Cursor::new(&[0, 0, 0, 10, b'a']);
        assert!(short.string("s").is_err());
    }
}
