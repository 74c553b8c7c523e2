//! The commit record: the one file that says what is durable (DESIGN.md invariants 1–2).
//!
//! # Protocol
//!
//! 1. A persist writes each swapped-out in-memory index as a hydrant directory
//!    `{sink}/{n}/` — a complete v9 segment whose files are fsynced, written under a temporary
//!    name and renamed into place, parent fsynced (the segment writer does this).
//! 2. Only then is the commit record rewritten: the whole record is serialized to
//!    `commit.json.tmp`, fsynced, renamed over `commit.json`, and the directory fsynced. The
//!    record lists every live sink with its hydrants, and the firehose checkpoint after the last
//!    event whose row is in those hydrants.
//! 3. Only after the rename is durable is the firehose acknowledged with that checkpoint (Kafka
//!    offsets committed as an advisory copy, RabbitMQ deliveries acked).
//!
//! Each persist is a *generation*; the record keeps, for every generation that still has
//! hydrants, the checkpoint *before* its rows. On restart ([`super::recover`]):
//! - hydrants not named in the record were written by a persist whose record never landed:
//!   they are quarantined, and their rows are read again from the source;
//! - a named hydrant that fails its checksum is quarantined with its path in the log, every
//!   hydrant of that generation and later ones is dropped too, and the firehose resumes at the
//!   checkpoint before that generation, so the rows are read again exactly once;
//! - otherwise sinks are rebuilt from the named hydrants and the firehose resumes at the
//!   record's checkpoint.
//!
//! Sinks move `open` → `closed` (no more rows; being merged and pushed) → `pushed` (published
//! to the metadata store; awaiting handoff) → removed from the record (handed off). Because the
//! segment id of a sink is deterministic and publishing is idempotent, a crash anywhere in
//! merge, push or publish repeats those steps without counting a row twice.
//!
//! # Bytes
//!
//! ```text
//! commit.json:  <record JSON, one line>\n
//!               crc32:<8 lowercase hex digits of the CRC32 of the first line>\n
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::segment::descriptor::DataSegment;
use crate::time::Interval;

/// The record's file name inside a fire department's persist directory.
pub const COMMIT_FILE: &str = "commit.json";

/// Version of the record format.
pub const FORMAT_VERSION: u32 = 1;

/// Where a sink is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SinkState {
    /// Accepting rows.
    Open,
    /// No more rows; being merged, pushed and published.
    Closed,
    /// Published; waiting for handoff.
    Pushed,
}

/// One persisted hydrant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HydrantRecord {
    /// Directory name under the sink (`0`, `1`, …).
    pub number: u32,
    /// The persist that wrote it.
    pub generation: u64,
    /// Rows it holds.
    pub rows: u64,
}

/// One live sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkRecord {
    /// Segment interval.
    pub interval: Interval,
    /// Segment version.
    pub version: String,
    /// Lifecycle state.
    pub state: SinkState,
    /// Persisted hydrants, in number order.
    pub hydrants: Vec<HydrantRecord>,
    /// The published segment, once pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<DataSegment>,
}

/// The checkpoint before a generation's rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationRecord {
    /// Generation number.
    pub generation: u64,
    /// Firehose checkpoint before its rows (`null`: from the beginning).
    pub start_checkpoint: Option<Value>,
}

/// The commit record of one fire department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitRecord {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Datasource.
    pub data_source: String,
    /// Partition number.
    pub partition: u32,
    /// Increases with every write.
    pub sequence: u64,
    /// When written (ISO).
    pub written_at: String,
    /// Firehose checkpoint after every row in the named hydrants.
    pub checkpoint: Option<Value>,
    /// Start checkpoints of generations that still have hydrants.
    pub generations: Vec<GenerationRecord>,
    /// The last generation number used.
    pub last_generation: u64,
    /// Live sinks.
    pub sinks: Vec<SinkRecord>,
    /// Latest event time seen (restores the `messageTime` policy).
    pub max_event_time_ms: Option<i64>,
    /// The checkpoint last stored in the metadata store with a publish.
    #[serde(default)]
    pub published_checkpoint: Option<Value>,
    /// Identifies this persisted state in the metadata store's `druid_dataSource` entry, so a
    /// publish can tell its own earlier entries (a crash between publish and record) from
    /// another node's.
    pub writer_id: String,
}

/// Reading or writing the record failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// I/O on the named file.
    #[error("commit record `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file exists but is damaged.
    #[error(
        "commit record `{path}` is corrupt: {reason}; it is the only record of what was persisted, so rtnode will not guess — restore it, or move the persist directory away to start over"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl CommitRecord {
    /// An empty record.
    pub fn new(data_source: &str, partition: u32) -> CommitRecord {
        CommitRecord {
            format_version: FORMAT_VERSION,
            data_source: data_source.to_string(),
            partition,
            sequence: 0,
            written_at: String::new(),
            checkpoint: None,
            generations: Vec::new(),
            last_generation: 0,
            sinks: Vec::new(),
            max_event_time_ms: None,
            published_checkpoint: None,
            writer_id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The sink of `interval`.
    pub fn sink_mut(&mut self, interval: &Interval) -> Option<&mut SinkRecord> {
        self.sinks.iter_mut().find(|s| s.interval == *interval)
    }

    /// Drops generation entries no hydrant refers to any more.
    pub fn prune_generations(&mut self) {
        let live: std::collections::HashSet<u64> = self
            .sinks
            .iter()
            .flat_map(|s| s.hydrants.iter().map(|h| h.generation))
            .collect();
        self.generations.retain(|g| live.contains(&g.generation));
    }

    /// Reads `dir/commit.json`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<CommitRecord>, CommitError> {
        let path = dir.join(COMMIT_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CommitError::Io { path, source }),
        };
        let corrupt = |reason: String| CommitError::Corrupt {
            path: path.clone(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("not UTF-8".into()))?;
        let mut lines = text.lines();
        let (json, crc_line) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        let expected = crc_line
            .strip_prefix("crc32:")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| corrupt("missing crc32 line".into()))?;
        let actual = crc32fast::hash(json.as_bytes());
        if actual != expected {
            return Err(corrupt(format!(
                "crc32 {actual:08x} does not match the recorded {expected:08x}"
            )));
        }
        let record: CommitRecord =
            serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
        if record.format_version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not {FORMAT_VERSION}",
                record.format_version
            )));
        }
        Ok(Some(record))
    }

    /// Writes the record atomically: temp file, fsync, rename, fsync the directory.
    pub fn write(&mut self, dir: &Path) -> Result<(), CommitError> {
        self.sequence += 1;
        self.written_at = crate::time::format_iso(crate::time::now_ms());
        let json = serde_json::to_string(self).expect("a commit record serializes");
        let content = format!("{json}\ncrc32:{:08x}\n", crc32fast::hash(json.as_bytes()));
        let tmp = dir.join(format!("{COMMIT_FILE}.tmp"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CommitError::Io { path, source }
        };
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(content.as_bytes()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        let target = dir.join(COMMIT_FILE);
        fs::rename(&tmp, &target).map_err(io(&target))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(CommitRecord::read(dir.path()).unwrap().is_none());
        let mut record = CommitRecord::new("wiki", 0);
        record.checkpoint = Some(serde_json::json!({"file": "a.json", "offset": 10}));
        record.sinks.push(SinkRecord {
            interval: "2015-09-12/2015-09-13".parse().unwrap(),
            version: "v".into(),
            state: SinkState::Open,
            hydrants: vec![HydrantRecord {
                number: 0,
                generation: 1,
                rows: 5,
            }],
            segment: None,
        });
        record.write(dir.path()).unwrap();
        record.write(dir.path()).unwrap();
        let read = CommitRecord::read(dir.path()).unwrap().unwrap();
        assert_eq!(read, record);
        assert_eq!(read.sequence, 2);
        let path = dir.path().join(COMMIT_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes[10] ^= 0x01;
        fs::write(&path, bytes).unwrap();
        let err = CommitRecord::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is corrupt"), "{err}");
    }
}
