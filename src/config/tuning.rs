//! `tuningConfig` (type `realtime`) with Druid 0.9.2's defaults (reference §1.4), plus the later
//! Druid keys operators asked for (`maxBytesInMemory`, parse-exception limits).

use serde::{Deserialize, Serialize};

use crate::segment::compression::Compression;
use crate::segment::descriptor::ShardSpec;
use crate::segment::writer::{LongEncoding, WriteOptions};
use crate::time::Period;

/// `tuningConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TuningConfig {
    /// `realtime` (`realtime_appenderator` of Druid's task files is read the same way).
    #[serde(rename = "type", default = "default_realtime")]
    pub kind: String,
    /// Rows (after rollup) held in memory across all sinks before a persist.
    #[serde(default = "default_max_rows_in_memory")]
    pub max_rows_in_memory: u64,
    /// Bytes held in memory across all sinks before a persist: 0 = one sixth of physical memory
    /// (Druid: of the JVM heap), -1 = no byte limit.
    #[serde(default)]
    pub max_bytes_in_memory: i64,
    /// Wall-clock period between persists.
    #[serde(default = "default_ten_minutes")]
    pub intermediate_persist_period: Period,
    /// Lateness tolerance.
    #[serde(default = "default_ten_minutes")]
    pub window_period: Period,
    /// Root of the on-disk state; default `var/druid/realtime/basePersist` under the working
    /// directory (Druid used a fresh temp dir, which loses everything on restart).
    #[serde(default = "default_base_persist_directory")]
    pub base_persist_directory: String,
    /// How segment versions are chosen.
    #[serde(default)]
    pub versioning_policy: VersioningPolicy,
    /// Which rows are accepted, and when sinks are merged and pushed.
    #[serde(default)]
    pub rejection_policy: RejectionPolicy,
    /// rtnode's own key: a directory where every event that is read but not indexed (thrown
    /// away or unparseable) is appended as a JSON line, one file per fire department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_directory: Option<String>,
    /// Persists that may queue while one runs (0: one may run while ingesting; the next blocks).
    #[serde(default)]
    pub max_pending_persists: u32,
    /// This node's partition of each interval.
    #[serde(default)]
    pub shard_spec: ShardSpec,
    /// Column formats of the final merged segment (the one pushed to deep storage).
    #[serde(default)]
    pub index_spec: IndexSpec,
    /// Column formats of the hydrants (intermediate persists). Druid (0.13+) defaults it to
    /// `indexSpec`; rtnode defaults it to [`IndexSpec::intermediate_default`] (hydrants are
    /// read only by this node, never loaded by Druid).
    #[serde(default = "IndexSpec::intermediate_default")]
    pub index_spec_for_intermediate_persists: IndexSpec,
    /// Druid 0.9 merger switch; the output is v9 either way.
    #[serde(default)]
    pub build_v9_directly: bool,
    /// Accepted for compatibility; rtnode does not change thread priorities.
    #[serde(default)]
    pub persist_thread_priority: i32,
    /// Accepted for compatibility; rtnode does not change thread priorities.
    #[serde(default)]
    pub merge_thread_priority: i32,
    /// A parse error stops the node instead of being counted and skipped.
    #[serde(default)]
    pub report_parse_exceptions: bool,
    /// Milliseconds to wait for handoff before dropping a sink with a warning (0 = forever).
    #[serde(default = "default_handoff_condition_timeout_ms")]
    pub handoff_condition_timeout: u64,
    /// Accepted for compatibility: Druid's indexing task alerts when it has not finished within
    /// this many milliseconds; a standalone node has no such end, and rtnode does not use it.
    #[serde(default)]
    pub alert_timeout: u64,
    /// Log each parse exception (rate-limited).
    #[serde(default)]
    pub log_parse_exceptions: bool,
    /// Unparseable events tolerated before the node stops (default: unlimited).
    #[serde(default = "default_max_parse_exceptions")]
    pub max_parse_exceptions: u64,
    /// Recent parse errors kept for `GET /druid/realtime/v1/parseErrors`.
    #[serde(default = "default_max_saved_parse_exceptions")]
    pub max_saved_parse_exceptions: u32,
    /// Accepted from appenderator task files; a realtime sink is one segment per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows_per_segment: Option<u64>,
}

fn default_realtime() -> String {
    "realtime".to_string()
}
fn default_max_rows_in_memory() -> u64 {
    75_000
}
fn default_ten_minutes() -> Period {
    Period {
        minutes: 10,
        ..Period::default()
    }
}
fn default_base_persist_directory() -> String {
    "var/druid/realtime/basePersist".to_string()
}
fn default_handoff_condition_timeout_ms() -> u64 {
    15 * 60 * 1000
}
fn default_max_parse_exceptions() -> u64 {
    u64::MAX
}
fn default_max_saved_parse_exceptions() -> u32 {
    100
}

impl Default for TuningConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every tuning field has a default")
    }
}

/// `versioningPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum VersioningPolicy {
    /// The version is the ISO start of the segment interval.
    #[default]
    IntervalStart,
    /// A fixed version string (default: the node's start time).
    Custom {
        /// The version; `None` means the start time of the node.
        #[serde(default)]
        version: Option<String>,
    },
}

/// `rejectionPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum RejectionPolicy {
    /// Accept `now - window ≤ t ≤ now + window`; merge when the wall clock passes end + window.
    #[default]
    ServerTime,
    /// Accept `t ≥ maxSeen - window`; merge when event time passes end + window.
    MessageTime,
    /// Accept everything; merge only when the input ends.
    None,
    /// Druid's pre-0.7 `test` policy, read as `none`.
    #[serde(rename = "test")]
    Test,
}

/// `indexSpec` (and `indexSpecForIntermediatePersists`), names as Druid spells them; validation
/// lowercases them and refuses what rtnode cannot write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexSpec {
    /// Bitmap format (`concise` is read everywhere; rtnode writes roaring, which every Druid since
    /// 0.8 reads, whatever this says).
    #[serde(default)]
    pub bitmap: BitmapSpec,
    /// String dictionary ids and numeric dimensions: `lz4` (default) or `uncompressed`
    /// (Druid's plain vsize ints). `none` is refused, as Druid refuses it; `lzf` is not written.
    #[serde(default = "default_lz4")]
    pub dimension_compression: String,
    /// `__time` and numeric metrics: `lz4` (default), `uncompressed` (blocks stored as they are)
    /// or `none` (no blocks: values read in place, Druid ≥ 0.11); `lzf` is not written.
    #[serde(default = "default_lz4")]
    pub metric_compression: String,
    /// `longs` (default, 8 bytes a value) or `auto` (table or delta bit-packing, as Druid picks).
    #[serde(default = "default_longs")]
    pub long_encoding: String,
}

impl IndexSpec {
    /// rtnode's default for hydrants: uncompressed dimension ids, `none` metrics, `longs` —
    /// every column readable in place, so filtered queries read only the selected rows, and
    /// longs cost no encoding pass at persist nor decoding at merge (numbers in README, "Column
    /// formats").
    pub fn intermediate_default() -> IndexSpec {
        IndexSpec {
            bitmap: BitmapSpec::default(),
            dimension_compression: "uncompressed".into(),
            metric_compression: "none".into(),
            long_encoding: "longs".into(),
        }
    }

    /// The writer options of a validated spec (names already checked).
    pub fn write_options(&self) -> Result<WriteOptions, String> {
        let compression = |name: &str| {
            Compression::from_name(name).ok_or_else(|| format!("unknown compression `{name}`"))
        };
        let long_encoding = LongEncoding::from_name(&self.long_encoding)
            .ok_or_else(|| format!("unknown longEncoding `{}`", self.long_encoding))?;
        let options = WriteOptions {
            dimension_compression: compression(&self.dimension_compression)?,
            metric_compression: compression(&self.metric_compression)?,
            long_encoding,
            bitmap_index: true,
        };
        options.check().map_err(|e| e.to_string())?;
        Ok(options)
    }
}

fn default_lz4() -> String {
    "lz4".to_string()
}
fn default_longs() -> String {
    "longs".to_string()
}

impl Default for IndexSpec {
    fn default() -> Self {
        IndexSpec {
            bitmap: BitmapSpec::default(),
            dimension_compression: default_lz4(),
            metric_compression: default_lz4(),
            long_encoding: default_longs(),
        }
    }
}

/// `indexSpec.bitmap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum BitmapSpec {
    /// Roaring bitmaps.
    #[serde(rename_all = "camelCase")]
    Roaring {
        /// Run-optimize before writing.
        #[serde(default = "default_true")]
        compress_run_on_serialization: bool,
    },
    /// Concise bitmaps (Druid 0.9's default).
    Concise,
}

fn default_true() -> bool {
    true
}

impl Default for BitmapSpec {
    fn default() -> Self {
        BitmapSpec::Roaring {
            compress_run_on_serialization: true,
        }
    }
}
