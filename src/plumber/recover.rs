//! Restart recovery: rebuild sinks from the hydrants the commit record names, quarantine the
//! rest, and find where the firehose resumes (protocol in [`super::commit`]).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::commit::{CommitError, CommitRecord, SinkState};
use super::sink::{Hydrant, Sink};
use crate::index::IndexSettings;
use crate::segment::descriptor::ShardSpec;
use crate::segment::reader::Segment;
use crate::time::Interval;

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The record as it stands after recovery (already written when it changed).
    pub record: CommitRecord,
    /// Rebuilt sinks by interval start.
    pub sinks: BTreeMap<i64, Sink>,
    /// Where the firehose resumes.
    pub resume: Option<Value>,
}

/// Recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The commit record is unreadable.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// A directory could not be read or moved.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Recovers the fire department whose persist directory is `dir`.
pub fn recover(
    dir: &Path,
    quarantine_root: &Path,
    data_source: &str,
    shard_spec: &ShardSpec,
    settings: &IndexSettings,
) -> Result<Recovered, RecoverError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RecoverError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut record = CommitRecord::read(dir)?
        .unwrap_or_else(|| CommitRecord::new(data_source, shard_spec.partition_num()));
    let quarantine = Quarantine {
        root: quarantine_root.join(data_source),
        stamp: crate::time::now_ms(),
    };
    quarantine_unknown(dir, &record, &quarantine)?;
    let (mut opened, bad_generation) = open_hydrants(dir, &record, &quarantine)?;
    let mut resume = record.checkpoint.clone();
    if let Some(bad) = bad_generation {
        resume = rewind(dir, &mut record, &mut opened, bad, &quarantine)?;
        record.checkpoint = resume.clone();
        record.write(dir)?;
    }
    let sinks = rebuild_sinks(&record, opened, shard_spec, settings);
    Ok(Recovered {
        record,
        sinks,
        resume,
    })
}

struct Quarantine {
    root: PathBuf,
    stamp: i64,
}

impl Quarantine {
    /// Moves `path` into the quarantine directory and logs it.
    fn take(&self, path: &Path, reason: &str) -> Result<(), RecoverError> {
        let name = path
            .iter()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|p| p.to_string_lossy())
            .collect::<Vec<_>>()
            .join("_");
        let target = self.root.join(format!("{}-{name}", self.stamp));
        std::fs::create_dir_all(&self.root).map_err(|source| RecoverError::Io {
            path: self.root.clone(),
            source,
        })?;
        tracing::warn!(path = %path.display(), quarantined_to = %target.display(), reason, "quarantining persisted data");
        std::fs::rename(path, &target).map_err(|source| RecoverError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Quarantines sink directories and hydrants the record does not name (written by a persist
/// whose record never landed, or leftovers).
fn quarantine_unknown(
    dir: &Path,
    record: &CommitRecord,
    quarantine: &Quarantine,
) -> Result<(), RecoverError> {
    let read_dir = |path: &Path| {
        std::fs::read_dir(path).map_err(|source| RecoverError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    for entry in read_dir(dir)? {
        let path = entry
            .map_err(|source| RecoverError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if !path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(sink) = record
            .sinks
            .iter()
            .find(|s| s.interval.to_path_component() == name)
        else {
            quarantine.take(&path, "sink directory not in the commit record")?;
            continue;
        };
        let named: HashSet<String> = sink.hydrants.iter().map(|h| h.number.to_string()).collect();
        for child in read_dir(&path)? {
            let child = child
                .map_err(|source| RecoverError::Io {
                    path: path.clone(),
                    source,
                })?
                .path();
            let child_name = child
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if child.is_dir() && !named.contains(&child_name) {
                if child_name == "merged" || child_name.contains(".tmp") {
                    let _ = std::fs::remove_dir_all(&child);
                } else {
                    quarantine.take(
                        &child,
                        "hydrant not in the commit record (its persist never committed)",
                    )?;
                }
            }
        }
    }
    Ok(())
}

type Opened = BTreeMap<(Interval, u32), Hydrant>;

/// Opens (and so checksums) every named hydrant; returns them and the earliest generation
/// holding a hydrant that is missing or corrupt.
fn open_hydrants(
    dir: &Path,
    record: &CommitRecord,
    quarantine: &Quarantine,
) -> Result<(Opened, Option<u64>), RecoverError> {
    let mut opened = BTreeMap::new();
    let mut bad: Option<u64> = None;
    for sink in &record.sinks {
        for h in &sink.hydrants {
            let path = Sink::dir(dir, &sink.interval).join(h.number.to_string());
            match Segment::open(&path) {
                Ok(segment) => {
                    opened.insert(
                        (sink.interval, h.number),
                        Hydrant {
                            number: h.number,
                            generation: h.generation,
                            rows: h.rows,
                            segment: Arc::new(segment),
                            in_segment_format: false,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, generation = h.generation, "persisted hydrant is missing or corrupt; its rows will be read again from the source");
                    if path.exists() {
                        quarantine.take(&path, "hydrant failed its checksum or cannot be read")?;
                    }
                    bad = Some(bad.map_or(h.generation, |b| b.min(h.generation)));
                }
            }
        }
    }
    Ok((opened, bad))
}

/// Drops every hydrant of generation `bad` or later (they cannot be kept: the source is
/// rewound to before `bad`, so their rows come again); returns the checkpoint to resume at.
fn rewind(
    dir: &Path,
    record: &mut CommitRecord,
    opened: &mut Opened,
    bad: u64,
    quarantine: &Quarantine,
) -> Result<Option<Value>, RecoverError> {
    let resume = record
        .generations
        .iter()
        .find(|g| g.generation == bad)
        .and_then(|g| g.start_checkpoint.clone());
    for sink in &mut record.sinks {
        let dropped: Vec<u32> = sink
            .hydrants
            .iter()
            .filter(|h| h.generation >= bad)
            .map(|h| h.number)
            .collect();
        for number in &dropped {
            if let Some(hydrant) = opened.remove(&(sink.interval, *number)) {
                drop(hydrant);
                quarantine.take(
                    &Sink::dir(dir, &sink.interval).join(number.to_string()),
                    "persisted after a corrupt hydrant; rebuilt from the source",
                )?;
            }
        }
        if !dropped.is_empty() && sink.state == SinkState::Closed {
            // Its rows come again: it must accept them (it is closed again when old enough).
            sink.state = SinkState::Open;
        }
        sink.hydrants.retain(|h| h.generation < bad);
    }
    record
        .sinks
        .retain(|s| !s.hydrants.is_empty() || s.state == SinkState::Pushed);
    record.generations.retain(|g| g.generation < bad);
    tracing::warn!(data_source = %record.data_source, generation = bad, resume = ?resume, "rewinding the firehose to before the first damaged persist");
    Ok(resume)
}

fn rebuild_sinks(
    record: &CommitRecord,
    mut opened: Opened,
    shard_spec: &ShardSpec,
    settings: &IndexSettings,
) -> BTreeMap<i64, Sink> {
    let mut sinks = BTreeMap::new();
    for r in &record.sinks {
        let mut sink = Sink::new(r.interval, r.version.clone(), shard_spec.clone(), settings);
        sink.state = r.state;
        sink.pushed = r.segment.clone();
        for h in &r.hydrants {
            if let Some(hydrant) = opened.remove(&(r.interval, h.number)) {
                sink.hydrants.push(hydrant);
            }
        }
        sink.next_hydrant = r.hydrants.iter().map(|h| h.number + 1).max().unwrap_or(0);
        sinks.insert(r.interval.start_ms, sink);
    }
    sinks
}
