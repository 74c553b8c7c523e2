//! [`SegmentError`]: every failure of the segment writer, reader, merge and packaging, with the
//! file and column it concerns.

use std::path::PathBuf;
use std::sync::Arc;

use super::format::FormatError;

/// An error reading or writing a segment.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// An operating-system error on a file.
    #[error("i/o error on `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes of a file or column contradict the format.
    #[error("corrupt segment file `{file}` column `{column}`: {reason}")]
    Corrupt {
        /// The segment file (a smoosh chunk, `meta.smoosh`, …).
        file: String,
        /// The column or internal file name (`-` when the whole file is concerned).
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// Valid Druid data in a form this implementation does not read.
    #[error("unsupported in segment file `{file}` column `{column}`: {what}")]
    Unsupported {
        /// The segment file.
        file: String,
        /// The column or internal file name.
        column: String,
        /// The unsupported feature.
        what: String,
    },
    /// A file's CRC32 or size differs from the checksum side file.
    #[error("checksum mismatch for `{file}`: expected {expected}, found {actual}")]
    ChecksumMismatch {
        /// The file whose content changed.
        file: String,
        /// The recorded size and crc32.
        expected: String,
        /// The size and crc32 found.
        actual: String,
    },
    /// The caller passed data the format cannot represent (a writer or merge precondition).
    #[error("invalid segment input: {0}")]
    InvalidInput(String),
}

impl SegmentError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SegmentError::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a corruption error for a whole file.
    pub fn corrupt_file(file: impl Into<String>, reason: impl Into<String>) -> Self {
        SegmentError::Corrupt {
            file: file.into(),
            column: "-".into(),
            reason: reason.into(),
        }
    }
}

/// Where a column's bytes come from, for error messages; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ctx {
    file: Arc<str>,
    column: Arc<str>,
}

impl Ctx {
    /// Names the segment file and the column (internal file) being read.
    pub fn new(file: &str, column: &str) -> Self {
        Ctx {
            file: file.into(),
            column: column.into(),
        }
    }

    /// Returns the column name.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Returns the file name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Attaches this file and column to a format error.
    pub fn err(&self, error: FormatError) -> SegmentError {
        match error {
            FormatError::Corrupt(reason) => SegmentError::Corrupt {
                file: self.file.to_string(),
                column: self.column.to_string(),
                reason,
            },
            FormatError::Unsupported(what) => SegmentError::Unsupported {
                file: self.file.to_string(),
                column: self.column.to_string(),
                what,
            },
        }
    }

    /// Builds a corruption error for this column.
    pub fn corrupt(&self, reason: impl Into<String>) -> SegmentError {
        self.err(FormatError::Corrupt(reason.into()))
    }
}
