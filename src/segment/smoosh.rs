//! The smoosh container: `version.bin`, `meta.smoosh` and the chunk files `00000.smoosh`, ….
//!
//! ```text
//! version.bin : 00 00 00 09                       (i32be 9)
//! meta.smoosh : v1,{maxChunkSize},{numChunks}\n    (maxChunkSize 2147483647)
//!               {name},{chunk},{start},{end}\n     one line per internal file, sorted by name
//!                                                  (Java order), end exclusive
//! 00000.smoosh: the internal files back to back (columns, index.drd, metadata.drd)
//! ```
//! This writer always produces a single chunk; the reader accepts any number.

use std::io::{self, Write};

use super::format::{FormatError, corrupt};
use super::string_column::java_str_cmp;

/// `Integer.MAX_VALUE`, Druid's default chunk size.
pub const MAX_CHUNK_SIZE: u64 = i32::MAX as u64;
/// The content of `version.bin`.
pub const VERSION_BIN: [u8; 4] = [0, 0, 0, 9];
/// The content of `factory.json`.
pub const FACTORY_JSON: &str = r#"{"type":"mMapSegmentFactory"}"#;

/// One internal file's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmooshEntry {
    /// Internal file name (a column name, `index.drd`, …).
    pub name: String,
    /// Chunk file number.
    pub chunk: u32,
    /// Start offset in the chunk.
    pub start: u64,
    /// End offset (exclusive).
    pub end: u64,
}

/// The parsed `meta.smoosh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmooshMeta {
    /// Number of chunk files.
    pub num_chunks: u32,
    /// Entries sorted by name in Java order.
    pub entries: Vec<SmooshEntry>,
}

/// Returns the chunk file name for chunk `index` (`00000.smoosh`).
pub fn chunk_file_name(index: u32) -> String {
    format!("{index:05}.smoosh")
}

/// Checks `version.bin`.
pub fn check_version(bytes: &[u8]) -> Result<(), FormatError> {
    match bytes {
        [0, 0, 0, 9] => Ok(()),
        [a, b, c, d] => Err(FormatError::Unsupported(format!(
            "segment version {}",
            i32::from_be_bytes([*a, *b, *c, *d])
        ))),
        _ => Err(corrupt(format!(
            "version.bin has {} bytes, expected 4",
            bytes.len()
        ))),
    }
}

impl SmooshMeta {
    /// Parses `meta.smoosh`.
    pub fn parse(text: &str) -> Result<SmooshMeta, FormatError> {
        let mut lines = text.lines();
        let header = lines.next().ok_or_else(|| corrupt("empty meta.smoosh"))?;
        let fields: Vec<&str> = header.split(',').collect();
        if fields.len() != 3 || fields[0] != "v1" {
            return Err(corrupt(format!("bad meta.smoosh header `{header}`")));
        }
        let num_chunks: u32 = fields[2]
            .parse()
            .map_err(|_| corrupt(format!("bad chunk count `{}`", fields[2])))?;
        let mut entries = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != 4 {
                return Err(corrupt(format!("bad meta.smoosh line `{line}`")));
            }
            let number = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| corrupt(format!("bad number in meta.smoosh line `{line}`")))
            };
            let chunk = number(fields[1])?;
            let (start, end) = (number(fields[2])?, number(fields[3])?);
            if chunk >= num_chunks as u64 || start > end {
                return Err(corrupt(format!(
                    "bad location in meta.smoosh line `{line}`"
                )));
            }
            entries.push(SmooshEntry {
                name: fields[0].to_string(),
                chunk: chunk as u32,
                start,
                end,
            });
        }
        entries.sort_by(|a, b| java_str_cmp(&a.name, &b.name));
        Ok(SmooshMeta {
            num_chunks,
            entries,
        })
    }

    /// Returns the entry called `name`.
    pub fn find(&self, name: &str) -> Option<&SmooshEntry> {
        self.entries
            .binary_search_by(|e| java_str_cmp(&e.name, name))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Renders `meta.smoosh`, entries sorted by name.
    pub fn to_text(&self) -> String {
        let mut entries: Vec<&SmooshEntry> = self.entries.iter().collect();
        entries.sort_by(|a, b| java_str_cmp(&a.name, &b.name));
        let mut text = format!("v1,{MAX_CHUNK_SIZE},{}\n", self.num_chunks);
        for e in entries {
            text.push_str(&format!("{},{},{},{}\n", e.name, e.chunk, e.start, e.end));
        }
        text
    }
}

/// Appends internal files to one chunk and records where each lands.
#[derive(Debug)]
pub struct SmooshWriter<W: Write> {
    out: W,
    position: u64,
    entries: Vec<SmooshEntry>,
}

struct Counting<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> SmooshWriter<W> {
    /// Starts chunk 0 on `out`.
    pub fn new(out: W) -> Self {
        SmooshWriter {
            out,
            position: 0,
            entries: Vec::new(),
        }
    }

    /// Writes one internal file through `write` and records its location.
    pub fn add(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if name.contains([',', '\n', '\r']) || name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid internal file name `{name}`"),
            ));
        }
        let mut counting = Counting {
            inner: &mut self.out,
            written: 0,
        };
        write(&mut counting)?;
        let start = self.position;
        self.position += counting.written;
        if self.position > MAX_CHUNK_SIZE {
            return Err(io::Error::other(
                "segment larger than one 2 GiB smoosh chunk",
            ));
        }
        self.entries.push(SmooshEntry {
            name: name.to_string(),
            chunk: 0,
            start,
            end: self.position,
        });
        Ok(())
    }

    /// Flushes the chunk and returns it with the metadata.
    pub fn finish(mut self) -> io::Result<(W, SmooshMeta)> {
        self.out.flush()?;
        Ok((
            self.out,
            SmooshMeta {
                num_chunks: 1,
                entries: self.entries,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_the_reference_example() {
        let text = "v1,2147483647,1\n__time,0,1161,1579\nhost,0,0,581\nindex.drd,0,1579,1700\nunique_hosts,0,581,752\nvisited_sum,0,752,1161\n";
        let meta = SmooshMeta::parse(text).unwrap();
        assert_eq!(meta.find("host").unwrap().end, 581);
        assert!(meta.find("nope").is_none());
        assert_eq!(meta.to_text(), text);
    }

    #[test]
    fn writer_records_offsets_and_sorts_names() {
        let mut writer = SmooshWriter::new(Vec::new());
        writer.add("zeta", |out| out.write_all(b"abc")).unwrap();
        writer.add("alpha", |out| out.write_all(b"de")).unwrap();
        assert!(writer.add("a,b", |_| Ok(())).is_err());
        let (bytes, meta) = writer.finish().unwrap();
        assert_eq!(bytes, b"abcde");
        assert_eq!(meta.to_text(), "v1,2147483647,1\nalpha,0,3,5\nzeta,0,0,3\n");
    }

    #[test]
    fn malformed_meta_is_an_error() {
        for text in [
            "",
            "v2,1,1",
            "v1,2147483647,1\nx,0,5",
            "v1,2147483647,1\nx,1,0,5",
            "v1,2147483647,1\nx,0,9,5",
        ] {
            assert!(SmooshMeta::parse(text).is_err(), "{text}");
        }
        assert!(check_version(&[0, 0, 0, 9]).is_ok());
        assert!(check_version(&[0, 0, 0, 8]).is_err());
    }
}
