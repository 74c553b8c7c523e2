//! The batch segment layout: which segment lives in which znode, exactly as Druid's
//! `BatchDataSegmentAnnouncer` (0.9.2/0.10) decides it. Pure bookkeeping; the ZooKeeper writes
//! are done by [`super::zk`] from [`BatchLayout::pending_writes`].
//!
//! ```text
//! {liveSegmentsPath}/{host:port}/                      PERSISTENT parent
//!   {host:port}_{type}_{tier}_{ISO now}_{uuid32hex}{counter}    EPHEMERAL, JSON array:
//!       [{"dataSource":…,"identifier":…},{…},…]
//! ```
//!
//! The name is `UUIDUtils.generateUuid(host, type, tier, now)` (non-empty parts joined by `_`,
//! then `_` and a random UUID without dashes) followed by a per-announcer counter, so names are
//! never reused. With the default tier the name has a double `_`: `…_realtime__default_tier_…`.
//!
//! Rules, for a segment whose JSON is `len` bytes:
//! - `len > maxBytesPerNode` is refused.
//! - The "available" znodes are scanned in path order; the first whose array bytes plus `len` are
//!   *below* `maxBytesPerNode` takes the segment, and leaves the available set once it holds
//!   `segmentsPerNode` segments. A znode too full for the segment leaves the available set.
//! - If none takes it, a new znode holding `[segment]` is created (and is available only while it
//!   holds fewer than `segmentsPerNode` segments; Druid adds it unconditionally, which lets a
//!   `segmentsPerNode` of 1 put two segments in a znode).
//! - Unannouncing removes the segment and rewrites the array, or deletes the znode when it is
//!   empty; a znode that keeps segments becomes available again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::config::BatchConfig;
use super::payload::announced_segment_json;
use crate::segment::descriptor::DataSegment;

/// A segment that cannot be announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The segment's JSON alone is larger than `maxBytesPerNode`.
    #[error(
        "segment `{identifier}` is {bytes} bytes of JSON, above `druid.announcer.maxBytesPerNode` {max_bytes}"
    )]
    SegmentTooLarge {
        /// The segment identifier.
        identifier: String,
        /// Its JSON size.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
}

/// One write the ZooKeeper side owes the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingWrite {
    /// Create or overwrite znode `name` with `json` (uncompressed); `generation` identifies the
    /// content, to be passed back to [`BatchLayout`]'s caller bookkeeping once written.
    Put {
        /// Znode name (no parent path).
        name: String,
        /// Content generation.
        generation: u64,
        /// The JSON array.
        json: Vec<u8>,
    },
    /// Delete znode `name`.
    Delete {
        /// Znode name (no parent path).
        name: String,
    },
}

#[derive(Debug)]
struct Znode {
    /// `(identifier, JSON)` in announcement order.
    entries: Vec<(String, Arc<[u8]>)>,
    /// Bytes of `[a,b,…]`.
    json_len: usize,
    generation: u64,
}

impl Znode {
    fn json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json_len);
        out.push(b'[');
        for (index, (_, json)) in self.entries.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(json);
        }
        out.push(b']');
        out
    }

    fn recompute_len(&mut self) {
        let commas = self.entries.len().saturating_sub(1);
        self.json_len = 2 + commas + self.entries.iter().map(|(_, j)| j.len()).sum::<usize>();
    }
}

/// Which segments live in which znode, plus the writes ZooKeeper still needs.
#[derive(Debug)]
pub struct BatchLayout {
    config: BatchConfig,
    /// `{host:port}_{type}_{tier}` (non-empty parts joined by `_`).
    name_prefix: String,
    counter: u64,
    next_generation: u64,
    znodes: HashMap<String, Znode>,
    available: BTreeSet<String>,
    /// Segment identifier → znode name.
    lookup: HashMap<String, String>,
    /// Znodes emptied and not yet deleted in ZooKeeper.
    deletions: BTreeSet<String>,
}

impl BatchLayout {
    /// Returns an empty layout naming znodes after `host_and_port`, `server_type` and `tier`.
    pub fn new(config: BatchConfig, host_and_port: &str, server_type: &str, tier: &str) -> Self {
        let parts = [host_and_port, server_type, tier];
        let name_prefix = parts
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("_");
        BatchLayout {
            config,
            name_prefix,
            counter: 0,
            next_generation: 1,
            znodes: HashMap::new(),
            available: BTreeSet::new(),
            lookup: HashMap::new(),
            deletions: BTreeSet::new(),
        }
    }

    /// Adds a segment; returns the znode name holding it (unchanged if it was already announced).
    pub fn announce(&mut self, segment: &DataSegment) -> Result<String, BatchError> {
        let identifier = segment.identifier();
        if let Some(name) = self.lookup.get(&identifier) {
            return Ok(name.clone());
        }
        let json: Arc<[u8]> = announced_segment_json(segment, &self.config).into();
        let max_bytes = self.config.max_bytes_per_node;
        if json.len() > max_bytes {
            return Err(BatchError::SegmentTooLarge {
                identifier,
                bytes: json.len(),
                max_bytes,
            });
        }
        let name = match self.take_available(json.len()) {
            Some(name) => name,
            None => self.new_znode_name(),
        };
        let generation = self.bump_generation();
        let znode = self.znodes.entry(name.clone()).or_insert_with(|| Znode {
            entries: Vec::new(),
            json_len: 2,
            generation,
        });
        znode.entries.push((identifier.clone(), json));
        znode.recompute_len();
        znode.generation = generation;
        if znode.entries.len() < self.config.segments_per_node {
            self.available.insert(name.clone());
        } else {
            self.available.remove(&name);
        }
        self.lookup.insert(identifier, name.clone());
        Ok(name)
    }

    /// Removes a segment; returns the znode it was in, `None` when it was not announced.
    pub fn unannounce(&mut self, segment: &DataSegment) -> Option<String> {
        let name = self.lookup.remove(&segment.identifier())?;
        let generation = self.bump_generation();
        let znode = self.znodes.get_mut(&name)?;
        let identifier = segment.identifier();
        znode.entries.retain(|(id, _)| *id != identifier);
        znode.recompute_len();
        znode.generation = generation;
        if znode.entries.is_empty() {
            self.znodes.remove(&name);
            self.available.remove(&name);
            self.deletions.insert(name.clone());
        } else {
            self.available.insert(name.clone());
        }
        Some(name)
    }

    /// Returns the writes needed to bring ZooKeeper, whose znodes hold the generations in
    /// `written`, to this layout.
    pub fn pending_writes(&self, written: &HashMap<String, u64>) -> Vec<PendingWrite> {
        let mut writes: Vec<PendingWrite> = self
            .deletions
            .iter()
            .map(|name| PendingWrite::Delete { name: name.clone() })
            .collect();
        let mut names: Vec<&String> = self.znodes.keys().collect();
        names.sort();
        for name in names {
            let znode = &self.znodes[name];
            if written.get(name) != Some(&znode.generation) {
                writes.push(PendingWrite::Put {
                    name: name.clone(),
                    generation: znode.generation,
                    json: znode.json(),
                });
            }
        }
        writes
    }

    /// Records that znode `name` was deleted in ZooKeeper.
    pub fn confirm_deleted(&mut self, name: &str) {
        self.deletions.remove(name);
    }

    /// Forgets pending deletions: a new session starts without the old ephemeral znodes.
    pub fn clear_deletions(&mut self) {
        self.deletions.clear();
    }

    /// Returns the names of the znodes that hold segments.
    pub fn znode_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.znodes.keys().cloned().collect();
        names.sort();
        names
    }

    /// Returns the number of announced segments.
    pub fn segment_count(&self) -> usize {
        self.lookup.len()
    }

    /// Returns the first available znode that fits `len` more bytes, dropping the ones that
    /// do not fit from the available set on the way (Druid's scan).
    fn take_available(&mut self, len: usize) -> Option<String> {
        let max_bytes = self.config.max_bytes_per_node;
        let mut too_full = Vec::new();
        let mut found = None;
        for name in &self.available {
            let znode = &self.znodes[name];
            if znode.json_len + len < max_bytes {
                found = Some(name.clone());
                break;
            }
            too_full.push(name.clone());
        }
        for name in too_full {
            self.available.remove(&name);
        }
        found
    }

    fn new_znode_name(&mut self) -> String {
        let now = crate::time::format_iso(crate::time::now_ms());
        let uuid = uuid::Uuid::new_v4().simple();
        let name = format!("{}_{now}_{uuid}{}", self.name_prefix, self.counter);
        self.counter += 1;
        name
    }

    fn bump_generation(&mut self) -> u64 {
        let generation = self.next_generation;
        self.next_generation += 1;
        generation
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;
    use crate::segment::descriptor::ShardSpec;

    fn segment(index: u32, dims: usize) -> DataSegment {
        DataSegment {
            data_source: "wiki".into(),
            interval: "2015-09-12/2015-09-13".parse().unwrap(),
            version: "2015-09-12T00:00:00.000Z".into(),
            load_spec: Map::new(),
            dimensions: (0..dims).map(|d| format!("dimension_{d}")).collect(),
            metrics: vec!["count".into()],
            shard_spec: ShardSpec::Linear {
                partition_num: index,
            },
            binary_version: None,
            size_bytes: 0,
        }
    }

    fn layout(config: BatchConfig) -> BatchLayout {
        BatchLayout::new(config, "rt1:8084", "realtime", "_default_tier")
    }

    fn arrays(layout: &BatchLayout) -> Vec<Vec<Value>> {
        layout
            .pending_writes(&HashMap::new())
            .into_iter()
            .filter_map(|write| match write {
                PendingWrite::Put { json, .. } => Some(serde_json::from_slice(&json).unwrap()),
                PendingWrite::Delete { .. } => None,
            })
            .collect()
    }

    #[test]
    fn names_follow_druid() {
        let mut layout = layout(BatchConfig::default());
        let name = layout.announce(&segment(0, 1)).unwrap();
        let rest = name
            .strip_prefix("rt1:8084_realtime__default_tier_")
            .unwrap();
        let (iso, tail) = rest.split_at(24);
        assert!(crate::time::parse_iso(iso).is_ok(), "{iso}");
        assert_eq!(&tail[..1], "_");
        assert_eq!(tail.len(), 1 + 32 + 1, "{tail}");
        assert!(tail[1..33].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(tail.ends_with('0'));
        let empty_tier = BatchLayout::new(BatchConfig::default(), "h:1", "realtime", "");
        assert!(empty_tier.name_prefix == "h:1_realtime");
    }

    #[test]
    fn fills_up_to_segments_per_node_then_opens_a_new_znode() {
        let mut layout = layout(BatchConfig::default());
        for index in 0..120 {
            layout.announce(&segment(index, 2)).unwrap();
        }
        let sizes: Vec<usize> = arrays(&layout).iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 120);
        assert!(sizes.iter().all(|&n| n <= 50), "{sizes:?}");
        assert_eq!(sizes.len(), 3);
    }

    #[test]
    fn respects_max_bytes_per_node() {
        let config = BatchConfig {
            max_bytes_per_node: 4096,
            ..BatchConfig::default()
        };
        let mut layout = layout(config);
        for index in 0..40 {
            layout.announce(&segment(index, 20)).unwrap();
        }
        for write in layout.pending_writes(&HashMap::new()) {
            if let PendingWrite::Put { json, .. } = write {
                assert!(json.len() <= 4096, "{}", json.len());
            }
        }
        let huge = segment(99, 400);
        assert!(matches!(
            layout.announce(&huge),
            Err(BatchError::SegmentTooLarge { .. })
        ));
    }

    #[test]
    fn unannounce_rewrites_and_deletes_empty_znodes() {
        let mut layout = layout(BatchConfig {
            segments_per_node: 2,
            ..BatchConfig::default()
        });
        for index in 0..4 {
            layout.announce(&segment(index, 1)).unwrap();
        }
        let mut written: HashMap<String, u64> = HashMap::new();
        for write in layout.pending_writes(&written) {
            if let PendingWrite::Put {
                name, generation, ..
            } = write
            {
                written.insert(name, generation);
            }
        }
        assert!(layout.pending_writes(&written).is_empty());
        layout.unannounce(&segment(0, 1)).unwrap();
        layout.unannounce(&segment(1, 1)).unwrap();
        layout.unannounce(&segment(2, 1)).unwrap();
        assert_eq!(layout.unannounce(&segment(2, 1)), None);
        let writes = layout.pending_writes(&written);
        let deletes = writes
            .iter()
            .filter(|w| matches!(w, PendingWrite::Delete { .. }))
            .count();
        assert_eq!(deletes, 1);
        let puts: Vec<Vec<Value>> = writes
            .iter()
            .filter_map(|w| match w {
                PendingWrite::Put { json, .. } => Some(serde_json::from_slice(json).unwrap()),
                PendingWrite::Delete { .. } => None,
            })
            .collect();
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0].len(), 1);
        assert_eq!(puts[0][0]["shardSpec"]["partitionNum"], 3);
        assert_eq!(layout.segment_count(), 1);
        // The half-empty znode is available again.
        let name = layout.announce(&segment(7, 1)).unwrap();
        assert_eq!(layout.znode_names(), vec![name]);
    }

    #[test]
    fn announcing_twice_keeps_one_copy() {
        let mut layout = layout(BatchConfig::default());
        let first = layout.announce(&segment(1, 1)).unwrap();
        let second = layout.announce(&segment(1, 1)).unwrap();
        assert_eq!(first, second);
        assert_eq!(arrays(&layout), vec![vec![segment(1, 1).to_json()]]);
    }
}
