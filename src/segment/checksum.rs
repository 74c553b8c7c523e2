//! The CRC32 side file `rtnode.crc32`: the size and CRC32 of every other file of a segment
//! directory, verified when the segment is opened (except by the persist that has just written
//! it, `Segment::open_unhashed`) and when it is zipped for deep storage (in the zip's own
//! CRC32 pass, `package`). Druid ignores unknown files, so the segment stays loadable by Druid;
//! segments without the file (Druid's own) open without the check.
//!
//! ```text
//! rtnode-crc32 v1\n
//! {file name} {size in bytes} {crc32 as 8 hex digits}\n     one line per file, sorted by name
//! ```

use std::io::{self, Write};
use std::path::Path;

use super::error::SegmentError;

/// Name of the side file.
pub const CHECKSUM_FILE: &str = "rtnode.crc32";
const HEADER: &str = "rtnode-crc32 v1";

/// Size and CRC32 of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChecksum {
    /// File name inside the segment directory.
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// CRC32 (IEEE) of the content.
    pub crc32: u32,
}

impl FileChecksum {
    /// Computes the checksum of in-memory content.
    pub fn of(name: &str, content: &[u8]) -> Self {
        FileChecksum {
            name: name.to_string(),
            size_bytes: content.len() as u64,
            crc32: crc32fast::hash(content),
        }
    }
}

/// Renders the side file.
pub fn render(files: &[FileChecksum]) -> String {
    let mut sorted: Vec<&FileChecksum> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut text = format!("{HEADER}\n");
    for file in sorted {
        text.push_str(&format!(
            "{} {} {:08x}\n",
            file.name, file.size_bytes, file.crc32
        ));
    }
    text
}

/// Reads and parses the side file of segment directory `dir`; `None` when it has none (a
/// segment Druid wrote).
pub fn read_side_file(dir: &Path) -> Result<Option<Vec<FileChecksum>>, SegmentError> {
    let path = dir.join(CHECKSUM_FILE);
    match std::fs::read(&path) {
        Ok(text) => parse(&String::from_utf8_lossy(&text)).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SegmentError::io(path, e)),
    }
}

/// Parses the side file.
pub fn parse(text: &str) -> Result<Vec<FileChecksum>, SegmentError> {
    let bad = |line: &str| SegmentError::corrupt_file(CHECKSUM_FILE, format!("bad line `{line}`"));
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(SegmentError::corrupt_file(
            CHECKSUM_FILE,
            "missing `rtnode-crc32 v1` header",
        ));
    }
    let mut files = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let mut fields = line.rsplitn(3, ' ');
        let crc = fields
            .next()
            .and_then(|c| u32::from_str_radix(c, 16).ok())
            .ok_or_else(|| bad(line))?;
        let size_bytes = fields
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(line))?;
        let name = fields
            .next()
            .filter(|n| !n.is_empty() && !n.contains(['/', '\\']))
            .ok_or_else(|| bad(line))?;
        files.push(FileChecksum {
            name: name.to_string(),
            size_bytes,
            crc32: crc,
        });
    }
    Ok(files)
}

/// Checks content against its recorded checksum.
pub fn verify(expected: &FileChecksum, content: &[u8]) -> Result<(), SegmentError> {
    verify_computed(expected, &FileChecksum::of(&expected.name, content))
}

/// Checks a checksum computed elsewhere (piecewise) against the recorded one.
pub fn verify_computed(expected: &FileChecksum, actual: &FileChecksum) -> Result<(), SegmentError> {
    if actual != expected {
        return Err(SegmentError::ChecksumMismatch {
            file: expected.name.clone(),
            expected: format!("{} bytes crc32 {:08x}", expected.size_bytes, expected.crc32),
            actual: format!("{} bytes crc32 {:08x}", actual.size_bytes, actual.crc32),
        });
    }
    Ok(())
}

/// A `Write` proxy that hashes and counts every byte on its way, so no write can skip the checksum.
#[derive(Debug)]
pub struct CrcWriter<W: Write> {
    inner: W,
    hasher: crc32fast::Hasher,
    size_bytes: u64,
}

impl<W: Write> CrcWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        CrcWriter {
            inner,
            hasher: crc32fast::Hasher::new(),
            size_bytes: 0,
        }
    }

    /// Returns the inner writer and the checksum of everything written under `name`.
    pub fn finish(self, name: &str) -> (W, FileChecksum) {
        let checksum = FileChecksum {
            name: name.to_string(),
            size_bytes: self.size_bytes,
            crc32: self.hasher.finalize(),
        };
        (self.inner, checksum)
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_file_round_trips_and_detects_changes() {
        let mut writer = CrcWriter::new(Vec::new());
        writer.write_all(b"hello ").unwrap();
        writer.write_all(b"world").unwrap();
        let (bytes, sum) = writer.finish("00000.smoosh");
        assert_eq!(sum, FileChecksum::of("00000.smoosh", &bytes));
        let text = render(&[sum.clone(), FileChecksum::of("a b.txt", b"x")]);
        assert!(text.starts_with("rtnode-crc32 v1\n00000.smoosh 11 "));
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].name, "a b.txt");
        assert!(verify(&sum, b"hello world").is_ok());
        let err = verify(&sum, b"hello World").unwrap_err();
        assert!(err.to_string().contains("`00000.smoosh`"));
        assert!(parse("nope\n").is_err());
        assert!(parse("rtnode-crc32 v1\nx zz 1\n").is_err());
    }

    #[test]
    fn side_file_is_read_absent_or_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_side_file(dir.path()).unwrap().is_none());
        let sums = [FileChecksum::of("00000.smoosh", b"abc")];
        std::fs::write(dir.path().join(CHECKSUM_FILE), render(&sums)).unwrap();
        assert_eq!(read_side_file(dir.path()).unwrap().unwrap(), sums);
        std::fs::write(dir.path().join(CHECKSUM_FILE), "rtnode-crc32 v1\nbroken\n").unwrap();
        let corrupt = read_side_file(dir.path()).unwrap_err().to_string();
        assert!(corrupt.contains(CHECKSUM_FILE), "{corrupt}");
        // Unreadable (here: a directory in its place) is an I/O error naming the path.
        std::fs::remove_file(dir.path().join(CHECKSUM_FILE)).unwrap();
        std::fs::create_dir(dir.path().join(CHECKSUM_FILE)).unwrap();
        let unreadable = read_side_file(dir.path()).unwrap_err().to_string();
        assert!(unreadable.contains(CHECKSUM_FILE), "{unreadable}");
    }
}
