//! `SegmentWriter`: streams rows (already in Druid row order) into a v9 segment, in a directory
//! or in memory.
//!
//! Columns are written as rows arrive: values go into compressed blocks as each block fills, and
//! the blocks spill to temporary files inside the output directory (memory buffers for
//! [`SegmentOutput::Memory`]); only per-dictionary-id bitmaps and per-block offsets stay in
//! memory. `finish` assembles `00000.smoosh` in Druid's order (`__time`, metrics sorted,
//! dimensions, `index.drd`, `metadata.drd`), then writes `meta.smoosh`, `version.bin`,
//! `factory.json` and the CRC32 side file. A directory is written as `{target}.tmp-…`, every
//! file fsynced (`00000.smoosh` flushed behind the writer as it grows, [`super::sync_behind`]),
//! renamed to the target and the parent fsynced. A zip output assembles the same
//! files as entries of `index.zip` instead ([`super::zip_output`]).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::column_writers::{ColumnWriter, column_writer_for_dim, column_writer_for_metric};
use super::error::SegmentError;
use super::index_drd::IndexDrd;
pub use super::schema::*;
use super::smoosh::{self, SmooshWriter};
use super::string_column::java_str_cmp;
use super::sync_behind::SyncBehindFile;
use super::{bitmap::BitmapKind, checksum};

/// Streams rows into a v9 segment.
#[derive(Debug)]
pub struct SegmentWriter {
    pub(super) schema: SegmentSchema,
    target_opt: Option<PathBuf>,
    /// Spills (directory and zip output), and a directory's files until it is published.
    pub(super) tmp_dir_opt: Option<PathBuf>,
    /// Zip output: the `index.zip` to write.
    pub(super) zip_opt: Option<PathBuf>,
    pub(super) time: ColumnWriter,
    pub(super) dims: Vec<Option<ColumnWriter>>,
    pub(super) metrics: Vec<ColumnWriter>,
    pub(super) num_rows: u32,
    pub(super) last_time_ms: i64,
}

fn check_names(schema: &SegmentSchema) -> Result<(), SegmentError> {
    let mut seen = std::collections::HashSet::new();
    let names = schema
        .dimensions
        .iter()
        .map(|d| &d.name)
        .chain(schema.metrics.iter().map(|m| &m.name));
    for name in names {
        if name.is_empty()
            || name == "__time"
            || name.contains([',', '\n', '\r'])
            || !seen.insert(name.as_str())
        {
            return Err(SegmentError::InvalidInput(format!(
                "invalid or duplicate column name `{name}`"
            )));
        }
        if name == "index.drd" || name == "metadata.drd" {
            return Err(SegmentError::InvalidInput(format!(
                "column name `{name}` is reserved"
            )));
        }
    }
    Ok(())
}

fn tmp_dir_for(target: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    target.with_file_name(name)
}

impl SegmentWriter {
    /// Starts a segment; `dictionaries` has one entry per dimension, `Some` exactly for string
    /// dimensions.
    pub fn new(
        schema: SegmentSchema,
        dictionaries: Vec<Option<Dictionary>>,
        output: SegmentOutput,
        options: WriteOptions,
    ) -> Result<Self, SegmentError> {
        check_names(&schema)?;
        options.check()?;
        if dictionaries.len() != schema.dimensions.len() {
            return Err(SegmentError::InvalidInput(format!(
                "{} dictionaries for {} dimensions",
                dictionaries.len(),
                schema.dimensions.len()
            )));
        }
        let mut zip_opt = None;
        let (target_opt, tmp_dir_opt) = match output {
            SegmentOutput::Directory(target) => {
                if fs::symlink_metadata(&target).is_ok() {
                    return Err(SegmentError::InvalidInput(format!(
                        "segment directory `{}` already exists",
                        target.display()
                    )));
                }
                let tmp = tmp_dir_for(&target);
                fs::create_dir_all(&tmp).map_err(|e| SegmentError::io(&tmp, e))?;
                (Some(target), Some(tmp))
            }
            SegmentOutput::Memory => (None, None),
            SegmentOutput::Zip {
                zip_path,
                scratch_dir,
            } => {
                fs::create_dir_all(&scratch_dir).map_err(|e| SegmentError::io(&scratch_dir, e))?;
                zip_opt = Some(zip_path);
                (None, Some(scratch_dir))
            }
        };
        let mut writer = SegmentWriter {
            time: ColumnWriter::time(tmp_dir_opt.as_deref(), options)
                .map_err(|e| io_err(&tmp_dir_opt, e))?,
            dims: Vec::new(),
            metrics: Vec::new(),
            schema: SegmentSchema {
                interval: schema.interval,
                dimensions: Vec::new(),
                metrics: Vec::new(),
                metadata: None,
            },
            target_opt,
            tmp_dir_opt,
            zip_opt,
            num_rows: 0,
            last_time_ms: i64::MIN,
        };
        writer.open_columns(schema, dictionaries, options)?;
        Ok(writer)
    }

    fn open_columns(
        &mut self,
        schema: SegmentSchema,
        dictionaries: Vec<Option<Dictionary>>,
        options: WriteOptions,
    ) -> Result<(), SegmentError> {
        let dir_opt = self.tmp_dir_opt.clone();
        for (index, (dim, dictionary_opt)) in schema.dimensions.iter().zip(dictionaries).enumerate()
        {
            let dictionary_opt = dictionary_opt.map(|d| d.validate(&dim.name)).transpose()?;
            let writer_opt =
                column_writer_for_dim(dim, dictionary_opt, dir_opt.as_deref(), index, options)?;
            self.dims.push(writer_opt);
        }
        for (index, metric) in schema.metrics.iter().enumerate() {
            let writer = column_writer_for_metric(metric, dir_opt.as_deref(), index, options)
                .map_err(|e| io_err(&dir_opt, e))?;
            self.metrics.push(writer);
        }
        self.schema = schema;
        Ok(())
    }

    /// Appends one row; rows must arrive in Druid row order (time ascending).
    pub fn add_row(&mut self, row: RowRef<'_>) -> Result<(), SegmentError> {
        if row.dims.len() != self.dims.len() || row.metrics.len() != self.metrics.len() {
            return Err(SegmentError::InvalidInput(format!(
                "row has {} dimensions and {} metrics, schema has {} and {}",
                row.dims.len(),
                row.metrics.len(),
                self.dims.len(),
                self.metrics.len()
            )));
        }
        if row.time_ms < self.last_time_ms {
            return Err(SegmentError::InvalidInput(format!(
                "row time {} before previous row {}",
                row.time_ms, self.last_time_ms
            )));
        }
        if self.num_rows == i32::MAX as u32 {
            return Err(SegmentError::InvalidInput(
                "segment row limit reached".into(),
            ));
        }
        for (index, (writer_opt, cell)) in self.dims.iter().zip(row.dims).enumerate() {
            if let Some(writer) = writer_opt {
                writer
                    .check_dim(cell)
                    .map_err(|m| self.invalid_dim(index, m))?;
            } else if !matches!(cell, DimCell::Ids(_)) {
                return Err(self.invalid_dim(index, "expects dictionary ids".into()));
            }
        }
        for (index, (writer, cell)) in self.metrics.iter().zip(row.metrics).enumerate() {
            writer.check_metric(cell).map_err(|m| {
                SegmentError::InvalidInput(format!(
                    "metric `{}`: {m}",
                    self.schema.metrics[index].name
                ))
            })?;
        }
        self.push_checked(row)
            .map_err(|e| io_err(&self.tmp_dir_opt, e))
    }

    pub(super) fn invalid_dim(&self, index: usize, message: String) -> SegmentError {
        SegmentError::InvalidInput(format!(
            "dimension `{}`: {message}",
            self.schema.dimensions[index].name
        ))
    }

    fn push_checked(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.time.push_long(row.time_ms)?;
        for (writer_opt, cell) in self.dims.iter_mut().zip(row.dims) {
            if let Some(writer) = writer_opt {
                writer.push_dim(cell)?;
            }
        }
        for (writer, cell) in self.metrics.iter_mut().zip(row.metrics) {
            writer.push_metric(cell)?;
        }
        self.last_time_ms = row.time_ms;
        self.num_rows += 1;
        Ok(())
    }

    /// Returns the number of rows added so far.
    pub fn num_rows(&self) -> u32 {
        self.num_rows
    }

    /// Assembles the segment and returns where it is.
    pub fn finish(mut self) -> Result<WrittenSegment, SegmentError> {
        let result = match (self.zip_opt.clone(), self.tmp_dir_opt.clone()) {
            (Some(zip_path), Some(scratch)) => self.finish_zip(&zip_path, &scratch),
            (_, Some(tmp)) => self.finish_directory(&tmp),
            _ => self.finish_memory(),
        };
        if result.is_ok() {
            self.tmp_dir_opt = None;
        }
        result
    }

    fn take_columns(&mut self) -> (Vec<(String, ColumnWriter)>, Vec<String>, Vec<String>) {
        let time = std::mem::replace(&mut self.time, ColumnWriter::Finished);
        let mut columns = vec![("__time".to_string(), time)];
        let mut metrics: Vec<(String, ColumnWriter)> = self
            .schema
            .metrics
            .iter()
            .map(|m| m.name.clone())
            .zip(self.metrics.drain(..))
            .collect();
        metrics.sort_by(|a, b| java_str_cmp(&a.0, &b.0));
        let metric_names_sorted: Vec<String> = metrics.iter().map(|m| m.0.clone()).collect();
        columns.extend(metrics);
        let mut dim_names = Vec::new();
        for (dim, writer_opt) in self.schema.dimensions.iter().zip(self.dims.drain(..)) {
            if let Some(writer) = writer_opt {
                dim_names.push(dim.name.clone());
                columns.push((dim.name.clone(), writer));
            }
        }
        (columns, metric_names_sorted, dim_names)
    }

    pub(super) fn write_smoosh<W: Write>(
        &mut self,
        out: W,
    ) -> io::Result<(W, smoosh::SmooshMeta, Vec<String>)> {
        let (columns, metric_names_sorted, dim_names) = self.take_columns();
        let mut smoosher = SmooshWriter::new(out);
        for (name, writer) in columns {
            smoosher.add(&name, |out| writer.write_column(out))?;
        }
        let index = IndexDrd {
            columns: metric_names_sorted
                .into_iter()
                .chain(dim_names.iter().cloned())
                .collect(),
            dimensions: dim_names.clone(),
            interval: self.schema.interval,
            bitmap: BitmapKind::Roaring,
        };
        smoosher.add("index.drd", |out| out.write_all(&index.to_bytes()))?;
        if let Some(metadata) = &self.schema.metadata {
            smoosher.add("metadata.drd", |out| out.write_all(&metadata.to_bytes()))?;
        }
        let (out, meta) = smoosher.finish()?;
        Ok((out, meta, dim_names))
    }

    pub(super) fn written(
        &self,
        data: WrittenData,
        size_bytes: u64,
        dimensions: Vec<String>,
    ) -> WrittenSegment {
        WrittenSegment {
            data,
            num_rows: self.num_rows,
            size_bytes,
            interval: self.schema.interval,
            dimensions,
            metrics: self.schema.metrics.iter().map(|m| m.name.clone()).collect(),
        }
    }

    fn finish_memory(&mut self) -> Result<WrittenSegment, SegmentError> {
        let (chunk, meta, dims) = self
            .write_smoosh(Vec::new())
            .map_err(|e| SegmentError::io("<memory>", e))?;
        let files: Vec<(String, Bytes)> = vec![
            (
                "version.bin".into(),
                Bytes::from_static(&smoosh::VERSION_BIN),
            ),
            ("meta.smoosh".into(), Bytes::from(meta.to_text())),
            (smoosh::chunk_file_name(0), Bytes::from(chunk)),
            (
                "factory.json".into(),
                Bytes::from_static(smoosh::FACTORY_JSON.as_bytes()),
            ),
        ];
        let size_bytes = files.iter().map(|f| f.1.len() as u64).sum();
        Ok(self.written(
            WrittenData::Memory(MemorySegment { files }),
            size_bytes,
            dims,
        ))
    }

    fn finish_directory(&mut self, tmp: &Path) -> Result<WrittenSegment, SegmentError> {
        let chunk_path = tmp.join(smoosh::chunk_file_name(0));
        let file = File::create(&chunk_path)
            .and_then(SyncBehindFile::new)
            .map_err(|e| SegmentError::io(&chunk_path, e))?;
        let out = checksum::CrcWriter::new(BufWriter::with_capacity(1 << 20, file));
        let (out, meta, dims) = self
            .write_smoosh(out)
            .map_err(|e| SegmentError::io(&chunk_path, e))?;
        let (buffered, chunk_sum) = out.finish(&smoosh::chunk_file_name(0));
        let file = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(SyncBehindFile::finish)
            .map_err(|e| SegmentError::io(&chunk_path, e))?;
        file.sync_all()
            .map_err(|e| SegmentError::io(&chunk_path, e))?;
        let mut sums = vec![chunk_sum];
        let small_files = [
            ("version.bin", smoosh::VERSION_BIN.to_vec()),
            ("meta.smoosh", meta.to_text().into_bytes()),
            ("factory.json", smoosh::FACTORY_JSON.as_bytes().to_vec()),
        ];
        for (name, content) in &small_files {
            write_synced(&tmp.join(name), content)?;
            sums.push(checksum::FileChecksum::of(name, content));
        }
        let size_bytes = sums.iter().map(|s| s.size_bytes).sum();
        write_synced(
            &tmp.join(checksum::CHECKSUM_FILE),
            checksum::render(&sums).as_bytes(),
        )?;
        let target = self
            .target_opt
            .clone()
            .expect("directory output has a target");
        publish_dir(tmp, &target)?;
        Ok(self.written(WrittenData::Directory(target), size_bytes, dims))
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp_dir_opt.take() {
            let _ = fs::remove_dir_all(tmp);
        }
    }
}

pub(super) fn io_err(dir_opt: &Option<PathBuf>, error: io::Error) -> SegmentError {
    SegmentError::io(
        dir_opt.clone().unwrap_or_else(|| PathBuf::from("<memory>")),
        error,
    )
}

/// Writes `content` to a new file and fsyncs it.
pub(crate) fn write_synced(path: &Path, content: &[u8]) -> Result<(), SegmentError> {
    let mut file = File::create(path).map_err(|e| SegmentError::io(path, e))?;
    file.write_all(content)
        .map_err(|e| SegmentError::io(path, e))?;
    file.sync_all().map_err(|e| SegmentError::io(path, e))
}

/// Renames a complete temporary directory to `target`, fsyncing the directories.
pub(crate) fn publish_dir(tmp: &Path, target: &Path) -> Result<(), SegmentError> {
    File::open(tmp)
        .and_then(|d| d.sync_all())
        .map_err(|e| SegmentError::io(tmp, e))?;
    fs::rename(tmp, target).map_err(|e| SegmentError::io(target, e))?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| SegmentError::io(parent, e))
}

/// Renames a complete, fsynced temporary file to `target` and fsyncs the parent directory.
pub(crate) fn publish_file(tmp: &Path, target: &Path) -> Result<(), SegmentError> {
    fs::rename(tmp, target).map_err(|e| SegmentError::io(target, e))?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| SegmentError::io(parent, e))
}
