//! Deep storage: where pushed segments live for historicals to load.
//!
//! The local kind lays segments out as Druid's `LocalDataSegmentPusher` does:
//!
//! ```text
//! {storageDirectory}/{dataSource}/{start}_{end}/{version}/{partitionNum}/index.zip
//!                                                                       /descriptor.json
//! ```
//! (`start`/`end` are Joda ISO instants; `:` in the version is kept, as Druid's local pusher
//! keeps it). The files are written under temporary names and renamed, so a crash never leaves a
//! half-written `index.zip`; pushing the same segment again replaces it (idempotent).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::properties::{PropertiesError, RuntimeProperties};
use crate::segment::descriptor::DataSegment;
use crate::segment::error::SegmentError;
use crate::segment::package;
use crate::segment::schema::WrittenSegment;

/// Default `druid.storage.storageDirectory` (relative to the working directory, as Druid's
/// quickstart configuration has it).
pub const DEFAULT_STORAGE_DIRECTORY: &str = "var/druid/segments";

/// A pushed segment.
#[derive(Debug, Clone)]
pub struct PushedSegment {
    /// The DataSegment with its load spec, size and binary version.
    pub segment: DataSegment,
    /// Path of `index.zip`.
    pub zip_path: PathBuf,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum DeepStorageError {
    /// Packaging or writing the segment failed.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A configuration property is wrong.
    #[error(transparent)]
    Properties(#[from] PropertiesError),
    /// A storage type rtnode does not support.
    #[error("druid.storage.type `{0}` is not supported (supported: local)")]
    Unsupported(String),
}

/// Local-filesystem deep storage.
#[derive(Debug, Clone)]
pub struct LocalDeepStorage {
    root: PathBuf,
}

impl LocalDeepStorage {
    /// Deep storage rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> LocalDeepStorage {
        LocalDeepStorage { root: root.into() }
    }

    /// From `druid.storage.type` and `druid.storage.storageDirectory`.
    pub fn from_properties(
        properties: &RuntimeProperties,
    ) -> Result<LocalDeepStorage, DeepStorageError> {
        let kind = properties.get_str_or("druid.storage.type", "local")?;
        if kind != "local" {
            return Err(DeepStorageError::Unsupported(kind));
        }
        let dir =
            properties.get_str_or("druid.storage.storageDirectory", DEFAULT_STORAGE_DIRECTORY)?;
        let root = std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir));
        Ok(LocalDeepStorage::new(root))
    }

    /// The storage directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory a segment is pushed to.
    pub fn segment_dir(&self, segment: &DataSegment) -> PathBuf {
        self.root
            .join(&segment.data_source)
            .join(segment.interval.to_path_component())
            .join(&segment.version)
            .join(segment.shard_spec.partition_num().to_string())
    }

    /// Zips the segment directory into place and writes `descriptor.json`; returns the
    /// DataSegment with `loadSpec` `{"type":"local","path":<absolute index.zip>}`.
    pub fn push(
        &self,
        segment_dir: &Path,
        template: &DataSegment,
    ) -> Result<PushedSegment, DeepStorageError> {
        let out_dir = self.segment_dir(template);
        let packaged = package::package(segment_dir, &out_dir, &self.with_load_spec(template))?;
        Ok(PushedSegment {
            segment: packaged.descriptor,
            zip_path: packaged.zip_path,
        })
    }

    /// Where `segment`'s `index.zip` goes (its directory created): a segment can be written
    /// straight into it (`SegmentOutput::Zip`) and then [`LocalDeepStorage::describe`]d.
    pub fn zip_path(&self, segment: &DataSegment) -> Result<PathBuf, DeepStorageError> {
        let out_dir = self.segment_dir(segment);
        std::fs::create_dir_all(&out_dir).map_err(|e| SegmentError::io(&out_dir, e))?;
        Ok(out_dir.join("index.zip"))
    }

    /// Completes the push of a segment written into [`LocalDeepStorage::zip_path`]: writes
    /// `descriptor.json` and returns the DataSegment, as [`LocalDeepStorage::push`] does.
    pub fn describe(
        &self,
        written: &WrittenSegment,
        template: &DataSegment,
    ) -> Result<PushedSegment, DeepStorageError> {
        let out_dir = self.segment_dir(template);
        let packaged = package::describe(&out_dir, &self.with_load_spec(template), written)?;
        Ok(PushedSegment {
            segment: packaged.descriptor,
            zip_path: packaged.zip_path,
        })
    }

    /// `template` with `loadSpec` `{"type":"local","path":<absolute index.zip>}`.
    fn with_load_spec(&self, template: &DataSegment) -> DataSegment {
        let zip_path = self.segment_dir(template).join("index.zip");
        let mut with_load_spec = template.clone();
        let mut load_spec = Map::new();
        load_spec.insert("type".into(), Value::from("local"));
        load_spec.insert("path".into(), Value::from(zip_path.display().to_string()));
        with_load_spec.load_spec = load_spec;
        with_load_spec
    }
}
