//! Deep-storage packaging: `index.zip` (the segment's files, flat, DEFLATE) plus
//! `descriptor.json` (the `DataSegment` JSON), and the safe reverse (extracting an `index.zip`).
//!
//! ```text
//! {out}/index.zip        entries: 00000.smoosh, factory.json, meta.smoosh, rtnode.crc32, version.bin
//! {out}/descriptor.json  {"dataSource":…,"size":<sum of uncompressed file sizes>,"binaryVersion":9,…}
//! ```
//! The zip itself is written by [`super::zip_writer`] (level-1 or stored DEFLATE blocks as the
//! data earns them). Reading a zip rejects directory entries and any entry whose name has a path component
//! (`a/b`, `..`, absolute paths), so extraction cannot escape its directory (zip-slip).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::checksum;
use super::descriptor::DataSegment;
use super::error::SegmentError;
use super::reader::Segment;
use super::schema::WrittenSegment;
use super::writer::{publish_file, write_synced};

/// A temporary directory holding an extracted zip, removed on drop.
#[derive(Debug)]
pub struct ExtractedDir {
    path: PathBuf,
}

impl ExtractedDir {
    /// Returns the directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ExtractedDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn zip_err(path: &Path, error: impl std::fmt::Display) -> SegmentError {
    SegmentError::corrupt_file(path.display().to_string(), format!("bad zip: {error}"))
}

/// Returns true when `name` is a plain file name (no directory part, not `.`/`..`).
fn is_flat_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.contains(':')
}

/// Extracts the flat entries of `zip_path` into the existing empty directory `dest`.
pub fn extract_zip(zip_path: &Path, dest: &Path) -> Result<(), SegmentError> {
    let file = File::open(zip_path).map_err(|e| SegmentError::io(zip_path, e))?;
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| zip_err(zip_path, e))?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| zip_err(zip_path, e))?;
        let name = entry.name().map_err(|e| zip_err(zip_path, e))?.to_string();
        if entry.is_dir() || !is_flat_name(&name) {
            return Err(zip_err(
                zip_path,
                format!("entry `{name}` is not a flat file name"),
            ));
        }
        let target = dest.join(&name);
        let claimed = entry.size();
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| SegmentError::io(&target, e))?;
        let copied = io::copy(&mut (&mut entry).take(claimed.saturating_add(1)), &mut out)
            .map_err(|e| zip_err(zip_path, e))?;
        if copied != claimed {
            return Err(zip_err(
                zip_path,
                format!("entry `{name}` has {copied} bytes, header says {claimed}"),
            ));
        }
    }
    Ok(())
}

/// Extracts `zip_path` into a new temporary directory.
pub fn extract_zip_to_temp(zip_path: &Path) -> Result<ExtractedDir, SegmentError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sequence = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let unique = format!("rtnode-segment-{}-{sequence}-{nanos}", std::process::id());
    let path = std::env::temp_dir().join(unique);
    fs::create_dir(&path).map_err(|e| SegmentError::io(&path, e))?;
    let extracted = ExtractedDir { path };
    extract_zip(zip_path, extracted.path())?;
    Ok(extracted)
}

/// What packaging produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Packaged {
    /// Path of `index.zip`.
    pub zip_path: PathBuf,
    /// Path of `descriptor.json`.
    pub descriptor_path: PathBuf,
    /// The descriptor written.
    pub descriptor: DataSegment,
    /// Size of `index.zip` in bytes.
    pub zip_size_bytes: u64,
}

fn segment_files(segment_dir: &Path) -> Result<Vec<(String, PathBuf)>, SegmentError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(segment_dir).map_err(|e| SegmentError::io(segment_dir, e))? {
        let entry = entry.map_err(|e| SegmentError::io(segment_dir, e))?;
        let is_file = entry
            .file_type()
            .map_err(|e| SegmentError::io(entry.path(), e))?
            .is_file();
        let name = entry.file_name().to_string_lossy().to_string();
        if is_file && is_flat_name(&name) {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Zips the segment directory into `{out_dir}/index.zip` and writes `{out_dir}/descriptor.json`.
///
/// `template` supplies the data source, interval, version, load spec and shard spec; `size` and
/// `binaryVersion` are computed, and empty `dimensions`/`metrics` are filled from the segment.
pub fn package(
    segment_dir: &Path,
    out_dir: &Path,
    template: &DataSegment,
) -> Result<Packaged, SegmentError> {
    // Opened for its names (the open checks `version.bin` and `meta.smoosh`): its checksums
    // are checked by the zip's own pass over the files (`write_zip`), not by one more pass.
    let segment = Segment::open_unhashed(segment_dir)?;
    let checks = checksum::read_side_file(segment_dir)?.unwrap_or_default();
    fs::create_dir_all(out_dir).map_err(|e| SegmentError::io(out_dir, e))?;
    let files = segment_files(segment_dir)?;
    let zip_path = out_dir.join("index.zip");
    let tmp_zip = out_dir.join(format!("index.zip.tmp-{}", std::process::id()));
    let size_bytes = match write_zip(&tmp_zip, &files, &checks) {
        Ok(size_bytes) => size_bytes,
        Err(e) => {
            let _ = fs::remove_file(&tmp_zip);
            return Err(e);
        }
    };
    publish_file(&tmp_zip, &zip_path)?;
    let mut descriptor = template.clone();
    if descriptor.dimensions.is_empty() {
        descriptor.dimensions = segment.dimension_names().to_vec();
    }
    if descriptor.metrics.is_empty() {
        descriptor.metrics = segment.metric_names().to_vec();
    }
    write_descriptor(out_dir, descriptor, size_bytes)
}

/// Writes `{out_dir}/descriptor.json` for a segment written straight into
/// `{out_dir}/index.zip` ([`super::schema::SegmentOutput::Zip`]); `template` as for
/// [`package`], empty dimensions and metrics filled from `written`.
pub fn describe(
    out_dir: &Path,
    template: &DataSegment,
    written: &WrittenSegment,
) -> Result<Packaged, SegmentError> {
    let mut descriptor = template.clone();
    if descriptor.dimensions.is_empty() {
        descriptor.dimensions = written.dimensions.clone();
    }
    if descriptor.metrics.is_empty() {
        descriptor.metrics = written.metrics.clone();
    }
    write_descriptor(out_dir, descriptor, written.size_bytes)
}

/// Completes `descriptor` (size, binary version 9) and writes it next to `index.zip`.
fn write_descriptor(
    out_dir: &Path,
    mut descriptor: DataSegment,
    size_bytes: u64,
) -> Result<Packaged, SegmentError> {
    descriptor.size_bytes = size_bytes;
    descriptor.binary_version = Some(9);
    let zip_path = out_dir.join("index.zip");
    let descriptor_path = out_dir.join("descriptor.json");
    let tmp_descriptor = out_dir.join(format!("descriptor.json.tmp-{}", std::process::id()));
    write_synced(&tmp_descriptor, &descriptor.to_json_bytes())?;
    publish_file(&tmp_descriptor, &descriptor_path)?;
    let zip_size_bytes = fs::metadata(&zip_path)
        .map_err(|e| SegmentError::io(&zip_path, e))?
        .len();
    Ok(Packaged {
        zip_path,
        descriptor_path,
        descriptor,
        zip_size_bytes,
    })
}

/// Zips `files`; returns their total size. Each file the checksums name must match them: the
/// zip hashes every byte for its own CRC32, the same function, so this costs no pass of its
/// own (a mismatch is found once the zip is written, and the caller removes it).
fn write_zip(
    zip_path: &Path,
    files: &[(String, PathBuf)],
    checks: &[checksum::FileChecksum],
) -> Result<u64, SegmentError> {
    let entries =
        super::zip_writer::write_zip(zip_path, files).map_err(|e| SegmentError::io(zip_path, e))?;
    for entry in &entries {
        if let Some(expected) = checks.iter().find(|c| c.name == entry.name) {
            checksum::verify_computed(expected, entry)?;
        }
    }
    Ok(entries.iter().map(|e| e.size_bytes).sum())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_with(path: &Path, names: &[&str], dir_entry: bool) {
        let mut writer = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for name in names {
            writer.start_file(*name, options).unwrap();
            writer.write_all(b"data").unwrap();
        }
        if dir_entry {
            writer.add_directory("sub/", options).unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn zip_slip_and_directories_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        for (names, dir_entry) in [
            (vec!["../evil"], false),
            (vec!["a/b"], false),
            (vec!["/abs"], false),
            (vec!["ok"], true),
        ] {
            let zip_path = tmp.path().join("x.zip");
            zip_with(&zip_path, &names, dir_entry);
            let dest = tmp.path().join("dest");
            fs::create_dir(&dest).unwrap();
            let err = extract_zip(&zip_path, &dest).unwrap_err();
            assert!(err.to_string().contains("not a flat file name"), "{err}");
            fs::remove_dir_all(&dest).unwrap();
        }
        assert!(!tmp.path().join("evil").exists());
    }

    #[test]
    fn flat_zip_extracts() {
        let tmp = tempfile::tempdir().unwrap();
        let zip_path = tmp.path().join("x.zip");
        zip_with(&zip_path, &["a", "b"], false);
        let extracted = extract_zip_to_temp(&zip_path).unwrap();
        assert_eq!(fs::read(extracted.path().join("b")).unwrap(), b"data");
        let path = extracted.path().to_path_buf();
        drop(extracted);
        assert!(!path.exists());
    }
}
