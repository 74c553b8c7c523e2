//! `Segment`: a v9 segment opened for reading, memory-mapped (`memmap2`) from a directory, read
//! from an `index.zip` (extracted to a temporary directory that lives as long as the segment), or
//! held in memory after an in-memory write.
//!
//! Opening reads `version.bin`, verifies the CRC32 side file when present, parses `meta.smoosh`,
//! maps the chunk files and parses `index.drd`, `metadata.drd` and the `__time` header. Other
//! columns are parsed when asked for ([`Segment::column`]); the handles returned decode block by
//! block and borrow values from the mapping. `Segment` is cheap to clone and `Send + Sync`;
//! column handles are `Send` (each thread takes its own).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::block_column::BlockColumn;
use super::checksum;
use super::column_descriptor::{ColumnDescriptor, Part};
use super::compression::Blocks;
use super::error::{Ctx, SegmentError};
use super::format::Cursor;
use super::index_drd::IndexDrd;
use super::long_column::{self, LongColumn, LongDecoder};
use super::metadata_drd::Metadata;
use super::smoosh::{self, SmooshMeta};
use super::string_column::BuiltSlot;
use super::writer::{WrittenData, WrittenSegment};
use super::{complex_column, double_column, float_column, string_column};
use crate::time::Interval;

pub use super::complex_column::ComplexColumn;
pub use super::double_column::DoubleColumn;
pub use super::float_column::FloatColumn;
pub use super::string_column::{StringColumn, StringDictionary};

/// A column handle.
#[derive(Debug, Clone)]
pub enum Column {
    /// Longs.
    Long(LongColumn),
    /// Floats.
    Float(FloatColumn),
    /// Doubles.
    Double(DoubleColumn),
    /// Dictionary-encoded strings.
    String(Box<StringColumn>),
    /// Complex values.
    Complex(ComplexColumn),
}

/// An open segment.
#[derive(Debug, Clone)]
pub struct Segment {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    label: String,
    chunks: Vec<(String, Bytes)>,
    meta: SmooshMeta,
    index: IndexDrd,
    metadata_opt: Option<Metadata>,
    metric_names: Vec<String>,
    time: (Blocks, LongDecoder, Ctx),
    /// The file mappings behind `chunks` (empty for in-memory segments), for
    /// [`Segment::release_pages`].
    maps: Vec<Arc<memmap2::Mmap>>,
    /// Bitmaps built for string columns stored without them, by column name: every reader of
    /// the column shares them, so they are built once.
    built_bitmaps: std::sync::Mutex<HashMap<String, Arc<BuiltSlot>>>,
    _extracted_opt: Option<super::package::ExtractedDir>,
}

/// A shared file mapping as the owner of [`Bytes`].
struct SharedMap(Arc<memmap2::Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Hands the resident pages of `len` bytes of `mmap` from `offset` back to the page cache.
fn release_range(mmap: &memmap2::Mmap, offset: usize, len: usize) {
    // SAFETY: a read-only shared mapping of an immutable file (segment files are never written
    // once renamed into place); dropped pages are read again from the file on the next access,
    // so no data can change or be lost.
    let _ = unsafe { mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
}

/// Hands every resident page of `mmap` back to the page cache.
fn release(mmap: &memmap2::Mmap) {
    release_range(mmap, 0, mmap.len());
}

/// A mapped chunk file (`None` when the file is empty: zero-length maps are refused).
fn map_file(path: &Path) -> Result<Option<memmap2::Mmap>, SegmentError> {
    let file = File::open(path).map_err(|e| SegmentError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| SegmentError::io(path, e))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: segment files are immutable once published (written to a temporary directory and
    // renamed); nothing in this process writes to a mapped file.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| SegmentError::io(path, e))?;
    Ok(Some(mmap))
}

/// Shares a chunk's mapping between the chunk's bytes and the segment (for
/// [`Segment::release_pages`]). The checksum pass has already handed back the pages it read.
fn into_bytes(mmap_opt: Option<memmap2::Mmap>) -> (Bytes, Option<Arc<memmap2::Mmap>>) {
    match mmap_opt {
        Some(mmap) => {
            let shared = Arc::new(mmap);
            (Bytes::from_owner(SharedMap(shared.clone())), Some(shared))
        }
        None => (Bytes::new(), None),
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, SegmentError> {
    std::fs::read(path).map_err(|e| SegmentError::io(path, e))
}

impl Segment {
    /// Hands the pages of this segment's file mappings that are resident back to the page
    /// cache; the next read maps them in again. A long scan (a merge reading every hydrant of
    /// a sink) calls it now and then, so the files it has read do not all count as resident
    /// memory at once. Nothing for in-memory segments.
    pub fn release_pages(&self) {
        self.inner.maps.iter().for_each(|mmap| release(mmap));
    }

    /// Opens a segment directory, checking its files against their checksums.
    pub fn open(dir: &Path) -> Result<Segment, SegmentError> {
        Segment::open_dir(dir, &dir.display().to_string(), None, Checksums::Verify)
    }

    /// Opens a segment directory without hashing its files, for a caller that checks them
    /// otherwise: the persist, which has just written them (the writer computed their
    /// checksums from the very bytes it wrote; the next open, a restart's recovery, checks
    /// them), and the push, whose zip hashes every byte anyway ([`super::package::package`]).
    /// It spares a pass over the files (~7 ms and ~800 page faults per 50 MB hydrant).
    pub fn open_unhashed(dir: &Path) -> Result<Segment, SegmentError> {
        Segment::open_dir(dir, &dir.display().to_string(), None, Checksums::Skip)
    }

    /// Opens the directory `dir`, naming files `{label}/{file}` in errors.
    fn open_dir(
        dir: &Path,
        label: &str,
        extracted_opt: Option<super::package::ExtractedDir>,
        checksums: Checksums,
    ) -> Result<Segment, SegmentError> {
        let checks_opt = match checksums {
            Checksums::Skip => None,
            Checksums::Verify => checksum::read_side_file(dir)?,
        };
        let version = read_small(&dir.join("version.bin"))?;
        let meta_text = read_small(&dir.join("meta.smoosh"))?;
        let meta_label = format!("{label}/meta.smoosh");
        let meta_text = String::from_utf8(meta_text)
            .map_err(|_| SegmentError::corrupt_file(&meta_label, "not UTF-8"))?;
        let meta = SmooshMeta::parse(&meta_text).map_err(|e| Ctx::new(&meta_label, "-").err(e))?;
        let mut maps = Vec::new();
        for index in 0..meta.num_chunks.min(100_000) {
            let path = dir.join(smoosh::chunk_file_name(index));
            maps.push((
                format!("{label}/{}", smoosh::chunk_file_name(index)),
                map_file(&path)?,
            ));
        }
        if let Some(checks) = checks_opt {
            verify_checksums(dir, &checks, &maps)?;
        }
        let mut shared = Vec::new();
        let chunks = maps
            .into_iter()
            .map(|(label, mmap_opt)| {
                let (bytes, map_opt) = into_bytes(mmap_opt);
                shared.extend(map_opt);
                (label, bytes)
            })
            .collect();
        let mut segment =
            Segment::assemble(label.to_string(), &version, meta, chunks, extracted_opt)?;
        Arc::get_mut(&mut segment.inner)
            .expect("a segment being opened has no other handle")
            .maps = shared;
        Ok(segment)
    }

    /// Opens an `index.zip` by extracting its flat entries into a temporary directory, which is
    /// removed when the last clone of the segment is dropped.
    pub fn open_zip(path: &Path) -> Result<Segment, SegmentError> {
        let extracted = super::package::extract_zip_to_temp(path)?;
        let dir = extracted.path().to_path_buf();
        Segment::open_dir(
            &dir,
            &path.display().to_string(),
            Some(extracted),
            Checksums::Verify,
        )
    }

    /// Opens a directory or an `index.zip`, whichever `path` is.
    pub fn open_path(path: &Path) -> Result<Segment, SegmentError> {
        if path.is_dir() {
            Segment::open(path)
        } else {
            Segment::open_zip(path)
        }
    }

    /// Opens the result of a segment write (directory, zip or memory).
    pub fn from_written(written: WrittenSegment) -> Result<Segment, SegmentError> {
        match written.data {
            WrittenData::Directory(dir) => Segment::open(&dir),
            WrittenData::Zip(zip_path) => Segment::open_zip(&zip_path),
            WrittenData::Memory(memory) => {
                let file = |name: &str| -> Result<Bytes, SegmentError> {
                    let found = memory
                        .files
                        .iter()
                        .find(|f| f.0 == name)
                        .map(|f| f.1.clone());
                    found.ok_or_else(|| {
                        SegmentError::corrupt_file("<memory>", format!("missing `{name}`"))
                    })
                };
                let meta_text = file("meta.smoosh")?;
                let meta_text = std::str::from_utf8(&meta_text).map_err(|_| {
                    SegmentError::corrupt_file("<memory>", "meta.smoosh is not UTF-8")
                })?;
                let meta = SmooshMeta::parse(meta_text)
                    .map_err(|e| Ctx::new("<memory>/meta.smoosh", "-").err(e))?;
                let mut chunks = Vec::new();
                for index in 0..meta.num_chunks.min(100_000) {
                    let name = smoosh::chunk_file_name(index);
                    chunks.push((format!("<memory>/{name}"), file(&name)?));
                }
                Segment::assemble("<memory>".into(), &file("version.bin")?, meta, chunks, None)
            }
        }
    }

    fn assemble(
        label: String,
        version: &[u8],
        meta: SmooshMeta,
        chunks: Vec<(String, Bytes)>,
        extracted_opt: Option<super::package::ExtractedDir>,
    ) -> Result<Segment, SegmentError> {
        smoosh::check_version(version)
            .map_err(|e| Ctx::new(&format!("{label}/version.bin"), "-").err(e))?;
        let lookup = |name: &str| internal_file(&label, &meta, &chunks, name);
        let (index_bytes, index_ctx) = lookup("index.drd")?
            .ok_or_else(|| SegmentError::corrupt_file(&label, "missing `index.drd`"))?;
        let index = IndexDrd::parse(&index_bytes).map_err(|e| index_ctx.err(e))?;
        let metadata_opt = match lookup("metadata.drd")? {
            Some((bytes, _)) => match Metadata::parse(&bytes) {
                Ok(metadata) => Some(metadata),
                Err(error) => {
                    tracing::warn!(segment = %label, %error, "ignoring unreadable `metadata.drd`");
                    None
                }
            },
            None => None,
        };
        let (time_bytes, time_ctx) = lookup("__time")?
            .ok_or_else(|| SegmentError::corrupt_file(&label, "missing `__time`"))?;
        let time = parse_time(&time_bytes, time_ctx)?;
        let metric_names = index
            .columns
            .iter()
            .filter(|c| !index.dimensions.contains(c))
            .cloned()
            .collect();
        let inner = Inner {
            label,
            chunks,
            meta,
            index,
            metadata_opt,
            metric_names,
            time,
            maps: Vec::new(),
            built_bitmaps: Default::default(),
            _extracted_opt: extracted_opt,
        };
        Ok(Segment {
            inner: Arc::new(inner),
        })
    }

    /// Returns the directory (or `<memory>`) the segment was opened from.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Returns the number of rows.
    pub fn num_rows(&self) -> u32 {
        self.inner.time.0.total() as u32
    }

    /// Returns the data interval from `index.drd`.
    pub fn interval(&self) -> Interval {
        self.inner.index.interval
    }

    /// Returns the dimensions in segment order.
    pub fn dimension_names(&self) -> &[String] {
        &self.inner.index.dimensions
    }

    /// Returns the metric names (the non-dimension columns of `index.drd`).
    pub fn metric_names(&self) -> &[String] {
        &self.inner.metric_names
    }

    /// Returns every non-time column in `index.drd` order.
    pub fn column_names(&self) -> &[String] {
        &self.inner.index.columns
    }

    /// Returns the content of `metadata.drd`, if present and readable.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.inner.metadata_opt.as_ref()
    }

    /// Returns the `__time` column.
    pub fn time_column(&self) -> LongColumn {
        let (blocks, decoder, ctx) = &self.inner.time;
        BlockColumn::new(blocks.clone(), decoder.clone(), ctx.clone())
    }

    /// Returns the size in bytes of a column's internal file, if the column exists.
    pub fn column_size_bytes(&self, name: &str) -> Option<u64> {
        self.inner.meta.find(name).map(|e| e.end - e.start)
    }

    /// Returns the descriptor of a column, or `None` when the segment has no such column.
    pub fn column_descriptor(&self, name: &str) -> Result<Option<ColumnDescriptor>, SegmentError> {
        let Some((bytes, ctx)) = self.column_file(name)? else {
            return Ok(None);
        };
        ColumnDescriptor::read(&mut Cursor::new(&bytes))
            .map(Some)
            .map_err(|e| ctx.err(e))
    }

    fn column_file(&self, name: &str) -> Result<Option<(Bytes, Ctx)>, SegmentError> {
        if name != "__time" && !self.inner.index.columns.iter().any(|c| c == name) {
            return Ok(None);
        }
        match internal_file(
            &self.inner.label,
            &self.inner.meta,
            &self.inner.chunks,
            name,
        )? {
            Some(found) => Ok(Some(found)),
            None => Err(SegmentError::Corrupt {
                file: self.inner.label.clone(),
                column: name.into(),
                reason: "listed in `index.drd` but has no file".into(),
            }),
        }
    }

    /// The shared slot of column `name`'s built bitmaps.
    fn built_slot(&self, name: &str) -> Arc<BuiltSlot> {
        let mut slots = match self.inner.built_bitmaps.lock() {
            Ok(slots) => slots,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(name.to_string()).or_default().clone()
    }

    /// Parses and returns column `name`, or `None` when the segment has no such column.
    pub fn column(&self, name: &str) -> Result<Option<Column>, SegmentError> {
        let Some((bytes, ctx)) = self.column_file(name)? else {
            return Ok(None);
        };
        let num_rows = self.num_rows();
        let mut cursor = Cursor::new(&bytes);
        let descriptor = ColumnDescriptor::read(&mut cursor).map_err(|e| ctx.err(e))?;
        let column = match descriptor.part().clone() {
            Part::Long(order) => Column::Long(
                long_column::parse(&bytes, &mut cursor, order, ctx.clone())
                    .map_err(|e| ctx.err(e))?,
            ),
            Part::Float(order) => Column::Float(
                float_column::parse(&bytes, &mut cursor, order, ctx.clone())
                    .map_err(|e| ctx.err(e))?,
            ),
            Part::Double(order) => Column::Double(
                double_column::parse(&bytes, &mut cursor, order, ctx.clone())
                    .map_err(|e| ctx.err(e))?,
            ),
            Part::StringDictionary { bitmap, order } => {
                let mut column =
                    string_column::parse(&bytes, &mut cursor, order, bitmap, num_rows, ctx.clone())
                        .map_err(|e| ctx.err(e))?;
                if !column.has_bitmap_index() {
                    column.share_built_bitmaps(self.built_slot(name));
                }
                Column::String(Box::new(column))
            }
            Part::Complex { type_name } => Column::Complex(
                complex_column::parse(&bytes, &mut cursor, &type_name, num_rows, ctx.clone())
                    .map_err(|e| ctx.err(e))?,
            ),
        };
        let rows = match &column {
            Column::Long(c) => c.len(),
            Column::Float(c) => c.len(),
            Column::Double(c) => c.len(),
            Column::String(c) => c.len(),
            Column::Complex(c) => c.len(),
        };
        if rows != num_rows {
            return Err(ctx.corrupt(format!("{rows} rows in a segment of {num_rows} rows")));
        }
        Ok(Some(column))
    }
}

fn parse_time(bytes: &Bytes, ctx: Ctx) -> Result<(Blocks, LongDecoder, Ctx), SegmentError> {
    let mut cursor = Cursor::new(bytes);
    let descriptor = ColumnDescriptor::read(&mut cursor).map_err(|e| ctx.err(e))?;
    let order = match descriptor.part() {
        Part::Long(order) => *order,
        other => return Err(ctx.corrupt(format!("`__time` has part {other:?}, expected long"))),
    };
    let column =
        long_column::parse(bytes, &mut cursor, order, ctx.clone()).map_err(|e| ctx.err(e))?;
    Ok(column.into_parts())
}

fn internal_file(
    label: &str,
    meta: &SmooshMeta,
    chunks: &[(String, Bytes)],
    name: &str,
) -> Result<Option<(Bytes, Ctx)>, SegmentError> {
    let Some(entry) = meta.find(name) else {
        return Ok(None);
    };
    let (chunk_label, chunk) =
        chunks
            .get(entry.chunk as usize)
            .ok_or_else(|| SegmentError::Corrupt {
                file: label.into(),
                column: name.into(),
                reason: format!("chunk {} missing", entry.chunk),
            })?;
    let ctx = Ctx::new(chunk_label, name);
    if entry.end > chunk.len() as u64 {
        return Err(ctx.corrupt(format!(
            "spans {}..{} of a {}-byte chunk",
            entry.start,
            entry.end,
            chunk.len()
        )));
    }
    Ok(Some((
        chunk.slice(entry.start as usize..entry.end as usize),
        ctx,
    )))
}

/// Whether opening a directory hashes its files against its checksum file.
#[derive(Debug, Clone, Copy)]
enum Checksums {
    Verify,
    /// The caller checks the files otherwise (see [`Segment::open_unhashed`]).
    Skip,
}

/// Bytes hashed between two releases of the pages just read.
const VERIFY_WINDOW_BYTES: usize = 64 << 20;

/// Checks a mapped chunk window by window, handing each window's pages back to the page cache
/// once hashed: a merged segment's single chunk file can be hundreds of megabytes, which would
/// otherwise all count as resident at once.
fn verify_mapped(check: &checksum::FileChecksum, mmap: &memmap2::Mmap) -> Result<(), SegmentError> {
    verify_mapped_in_windows(check, mmap, VERIFY_WINDOW_BYTES)
}

fn verify_mapped_in_windows(
    check: &checksum::FileChecksum,
    mmap: &memmap2::Mmap,
    window_bytes: usize,
) -> Result<(), SegmentError> {
    let mut hasher = crc32fast::Hasher::new();
    for (index, window) in mmap.chunks(window_bytes).enumerate() {
        hasher.update(window);
        release_range(mmap, index * window_bytes, window.len());
    }
    let actual = checksum::FileChecksum {
        name: check.name.clone(),
        size_bytes: mmap.len() as u64,
        crc32: hasher.finalize(),
    };
    checksum::verify_computed(check, &actual)
}

fn verify_checksums(
    dir: &Path,
    checks: &[checksum::FileChecksum],
    chunks: &[(String, Option<memmap2::Mmap>)],
) -> Result<(), SegmentError> {
    for check in checks {
        let chunk_opt = chunks.iter().find(|(label, _)| {
            Path::new(label)
                .file_name()
                .is_some_and(|n| n == check.name.as_str())
        });
        match chunk_opt {
            Some((_, Some(mmap))) => verify_mapped(check, mmap)?,
            Some((_, None)) => checksum::verify(check, &[])?,
            None => {
                let path: PathBuf = dir.join(&check.name);
                let content = read_small(&path)?;
                checksum::verify(check, &content)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
